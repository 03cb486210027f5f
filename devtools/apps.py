from django.apps import AppConfig


class DevtoolsConfig(AppConfig):
    """Installed only where the package is present: its management commands (bench, seed_demo)."""

    name = "devtools"
    verbose_name = "Developer tools"
