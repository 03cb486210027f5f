from django.urls import path

from reports import views
from reports.dashboards import views as dashboards

app_name = "reports"

urlpatterns = [
    path("family/<int:student_id>/", views.child_page, name="child"),
    path("family/<int:student_id>/report/", views.child_report, name="child_report"),
    path(
        "family/<int:student_id>/report-cards/",
        views.child_report_cards,
        name="child_report_cards",
    ),
    path(
        "family/<int:student_id>/report-cards/<int:period_id>/",
        views.child_report_card,
        name="child_report_card",
    ),
    path("me/", views.student_home, name="me"),
    path("me/report/", views.student_report, name="my_report"),
    path("me/report-cards/", views.my_report_cards, name="my_report_cards"),
    path("me/report-cards/<int:period_id>/", views.my_report_card, name="my_report_card"),
    path("me/goals/", views.goal_add, name="goal_add"),
    path("me/reassessment/<int:target_id>/", views.student_request, name="my_request"),
    path(
        "me/requests/<int:request_id>/withdraw/",
        views.student_request_withdraw,
        name="my_request_withdraw",
    ),
    path(
        "family/<int:student_id>/reassessment/<int:target_id>/",
        views.child_request,
        name="child_request",
    ),
    path(
        "family/<int:student_id>/requests/<int:request_id>/withdraw/",
        views.child_request_withdraw,
        name="child_request_withdraw",
    ),
    path("me/goals/<int:goal_id>/reached/", views.goal_done, name="goal_done"),
    path(
        "me/targets/<int:target_id>/self-assessment/",
        views.student_self_assessment,
        name="my_self_assessment",
    ),
    path(
        "me/self-assessments/<int:rating_id>/withdraw/",
        views.student_self_assessment_withdraw,
        name="my_self_assessment_withdraw",
    ),
    path("me/work/", views.my_work, name="my_work"),
    path("me/work/<int:submission_id>/withdraw/", views.my_work_withdraw, name="my_work_withdraw"),
    path("families/", views.families, name="families"),
    path("reports/", views.batches, name="batches"),
    path("reports/batches/<int:batch_id>/", views.batch_detail, name="batch"),
    path("reports/report-cards/", views.report_card_batches, name="report_card_batches"),
    path(
        "students/<int:student_id>/report-cards/<int:period_id>/",
        views.staff_report_card,
        name="student_report_card",
    ),
    path("reports/batches/<int:batch_id>/download/", views.batch_download, name="batch_download"),
    path("students/<int:student_id>/records.json", views.student_records, name="student_records"),
    path("dashboards/", dashboards.dashboards_home, name="dashboards"),
    path(
        "dashboards/departments/<int:department_id>/",
        dashboards.department_view,
        name="dashboard_department",
    ),
    path("dashboards/intervention/", dashboards.intervention_view, name="dashboard_intervention"),
    path("dashboards/school/", dashboards.school_view, name="dashboard_school"),
]
