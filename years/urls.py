from django.urls import path

from years import views

app_name = "years"

urlpatterns = [
    path("", views.years_page, name="home"),
    path("rollovers/<int:rollover_id>/", views.rollover_status, name="rollover"),
    path("<int:year_id>/", views.year_detail, name="year"),
]
