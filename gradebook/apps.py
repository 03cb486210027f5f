from django.apps import AppConfig


class GradebookConfig(AppConfig):
    name = "gradebook"
    verbose_name = "Gradebook: roster, assessments, evidence, mastery"
