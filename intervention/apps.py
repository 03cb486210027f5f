from django.apps import AppConfig


class InterventionConfig(AppConfig):
    name = "intervention"
    verbose_name = "Intervention cycles"

    def ready(self) -> None:
        # A reassessment rule counts re-teaching sessions attended as practice, without the
        # gradebook importing intervention (gradebook/extensions.py). Imported here: models are
        # ready only now.
        from gradebook.extensions import register_practice_reader
        from intervention.selectors import practice_sessions

        register_practice_reader(practice_sessions)
