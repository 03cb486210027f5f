from django.apps import AppConfig


class ReportsConfig(AppConfig):
    name = "reports"
    verbose_name = "Progress reports and portals"

    def ready(self) -> None:
        # The gradebook's cell page shows a student's goals without importing reports
        # (gradebook/extensions.py). Imported here: models are ready only now.
        from gradebook.extensions import register_goal_reader
        from reports.selectors import target_goals

        register_goal_reader(target_goals)
