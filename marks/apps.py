from django.apps import AppConfig


class MarksConfig(AppConfig):
    """The gradebook of record: grading periods posted, overrides with reasons, the comment bank."""

    name = "marks"
    verbose_name = "Marks of record"
