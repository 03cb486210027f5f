from django.apps import AppConfig


class GradingConfig(AppConfig):
    """Grading has no models: it is an app for its templates and Celery tasks."""

    name = "grading"
    verbose_name = "Grading"
