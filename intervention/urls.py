from django.urls import path

from intervention import views

app_name = "intervention"

urlpatterns = [
    path("", views.intervention_home, name="home"),
    path("mine/", views.mine, name="mine"),
    path("settings/", views.settings_view, name="settings"),
    path("cycles/open/", views.cycle_open_view, name="cycle_open"),
    path("cycles/<int:cycle_id>/rebuild/", views.cycle_rebuild_view, name="cycle_rebuild"),
    path("cycles/<int:cycle_id>/close/", views.cycle_close_view, name="cycle_close"),
    path("cycles/<int:cycle_id>/stats/", views.cycle_stats, name="stats"),
    path("cycles/<int:cycle_id>/days/<int:weekday>/", views.day_roster, name="day"),
    path("entries/<int:entry_id>/move/", views.entry_move_view, name="entry_move"),
    path("groups/<int:group_id>/attendance/", views.attendance, name="attendance"),
    path("students/<int:student_id>/", views.student_history, name="history"),
]
