from django.apps import AppConfig
from django.conf import settings


class AlertsConfig(AppConfig):
    """Alerts families and staff get by mail (issue [17]): each person's preferences, the builder
    that turns the outbox (mastery.outbox) into mails, right away or in a digest, and the sending
    that marks each mail once."""

    name = "alerts"
    verbose_name = "Alerts"

    def ready(self) -> None:
        from alerts import bounces  # noqa: F401  (connects the mail providers' bounce signal)
        from alerts.tasks import run_school_soon
        from mastery import outbox

        if settings.ALERTS_RUN_ON_COMMIT:
            outbox.listen(run_school_soon)
