from django.apps import AppConfig


class YearsConfig(AppConfig):
    """School years: the rollover that closes one and opens the next, and the closed years' pages."""

    name = "years"
    verbose_name = "School years"
