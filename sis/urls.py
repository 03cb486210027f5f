"""/s/<school>/sis/: grades to the SIS (sis.views.page)."""

from django.urls import path

from sis.views import page

app_name = "sis"

urlpatterns = [
    path("", page.sis_page, name="page"),
    path("periods/<int:period_id>/oneroster.zip", page.bundle_download, name="bundle"),
    path("deliveries/<int:delivery_id>/", page.delivery_page, name="delivery"),
]
