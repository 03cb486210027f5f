from django.apps import AppConfig


class SisConfig(AppConfig):
    """Grades back to the student information system: OneRoster 1.2 Gradebook out, as files, as a
    service the SIS pulls, and pushed to the SIS."""

    name = "sis"
    verbose_name = "Grades to the SIS"
