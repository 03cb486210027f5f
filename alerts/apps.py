from django.apps import AppConfig


class AlertsConfig(AppConfig):
    """Alerts families and staff get by mail (issue [17]): each person's preferences, the builder
    that turns the outbox (mastery.outbox) into mails, right away or in a digest, and the sending
    that marks each mail once."""

    name = "alerts"
    verbose_name = "Alerts"

    def ready(self) -> None:
        from django.conf import settings

        from alerts import bounces  # noqa: F401  (connects the mail providers' bounce signal)
        from mastery import outbox

        if settings.ALERTS_RUN_ON_COMMIT:
            outbox.listen(_run_now)


def _run_now(school_id: int) -> None:
    """Build and send a school's alerts as soon as news commits (the demo: eager tasks, mails
    printed on the console)."""
    from alerts.tasks import run_school

    run_school.delay(school_id=school_id)
