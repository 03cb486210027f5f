from django.apps import AppConfig


class AlertsConfig(AppConfig):
    """Alerts families and staff get by mail (issue [17]): each person's preferences, the builder
    that turns the outbox (mastery.outbox) into mails, right away or in a digest, and the sending
    that marks each mail once."""

    name = "alerts"
    verbose_name = "Alerts"

    def ready(self) -> None:
        from alerts import bounces  # noqa: F401  (connects the mail providers' bounce signal)
