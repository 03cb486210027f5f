from django.apps import AppConfig


class InterventionConfig(AppConfig):
    name = "intervention"
    verbose_name = "Intervention cycles"
