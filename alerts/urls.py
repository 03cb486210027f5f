"""/alerts/: a person's own alert settings and the unsubscribe link (alerts.views)."""

from django.urls import path

from alerts import views

app_name = "alerts"

urlpatterns = [
    path("", views.preferences, name="preferences"),
    path("unsubscribe/<str:token>/", views.unsubscribe, name="unsubscribe"),
]
