"""/alerts/: a person's own alert settings and the unsubscribe link (alerts.views)."""

from django.urls import path

from alerts import views

app_name = "alerts"

urlpatterns = [
    path("", views.preferences, name="preferences"),
    path("unsubscribe/<str:token>/", views.unsubscribe, name="unsubscribe"),
    # Bounces and complaints from the mail provider (alerts.bounces).
    path("provider/postmark/tracking/", views.postmark_tracking, name="postmark_tracking"),
    path("provider/amazon_ses/tracking/", views.amazon_ses_tracking, name="amazon_ses_tracking"),
    path("provider/mailgun/tracking/", views.mailgun_tracking, name="mailgun_tracking"),
    path("provider/sendgrid/tracking/", views.sendgrid_tracking, name="sendgrid_tracking"),
]
