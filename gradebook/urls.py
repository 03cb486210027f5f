from django.urls import path

from gradebook import views

app_name = "gradebook"

urlpatterns = [
    path("sections/<int:section_id>/", views.section_detail, name="section_detail"),
    path("students/<int:student_id>/", views.student_detail, name="student_detail"),
    path("targets/", views.target_list, name="target_list"),
    path("targets/<int:target_id>/", views.target_detail, name="target_detail"),
]
