from django.urls import path

from gradebook.views import assessments, cells, framework, grid, habits, scoring, students
from gradebook.views import exports as export_views
from gradebook.views import feedback as feedback_views
from gradebook.views import files as file_views
from gradebook.views import rostering as rostering_views

app_name = "gradebook"

section = "sections/<int:section_id>/"
scoring_base = section + "assessments/<int:assessment_id>/"
cell = section + "students/<int:student_id>/targets/<int:target_id>/"

urlpatterns = [
    path(section, grid.section_grid, name="section_detail"),
    path(section + "assessments/", assessments.assessment_list, name="assessment_list"),
    path(section + "assessments/new/", assessments.assessment_create, name="assessment_create"),
    path(scoring_base + "edit/", assessments.assessment_edit, name="assessment_edit"),
    path(scoring_base + "score/", scoring.score, name="score"),
    path(scoring_base + "cell/", scoring.score_cell, name="score_cell"),
    path(scoring_base + "feedback/", scoring.score_feedback, name="score_feedback"),
    path(scoring_base + "fill/", scoring.score_fill, name="score_fill"),
    path(scoring_base + "undo/", scoring.score_undo, name="score_undo"),
    path(cell, cells.cell_detail, name="cell_detail"),
    path(cell + "reassess/", cells.cell_reassess, name="cell_reassess"),
    path(cell + "request/", cells.cell_request, name="cell_request"),
    path(
        cell + "self-assessments/<int:rating_id>/reply/",
        cells.self_assessment_reply_view,
        name="self_assessment_reply",
    ),
    path(
        section + "evidence/<int:evidence_id>/void/", cells.evidence_void_view, name="evidence_void"
    ),
    path(section + "reassessments/", cells.reassessment_list, name="reassessment_list"),
    path(
        section + "evidence/<int:evidence_id>/files/",
        file_views.evidence_files_add,
        name="evidence_files_add",
    ),
    path(scoring_base + "files/", file_views.assessment_files_add, name="assessment_files_add"),
    path(
        section + "files/<int:attachment_id>/remove/",
        file_views.attachment_remove,
        name="attachment_remove",
    ),
    path(section + "submissions/", file_views.submission_list, name="submission_list"),
    path(
        section + "submissions/<int:submission_id>/score/",
        file_views.submission_score_view,
        name="submission_score",
    ),
    path(
        section + "submissions/<int:submission_id>/return/",
        file_views.submission_return_view,
        name="submission_return",
    ),
    path("files/<int:file_id>/", file_views.file_download, name="file_download"),
    path("files/<int:file_id>/thumbnail/", file_views.file_thumbnail, name="file_thumbnail"),
    path(section + "requests/<int:request_id>/", cells.request_resolve, name="request_resolve"),
    path(section + "requests/schedule/", cells.requests_schedule, name="requests_schedule"),
    path(section + "habits/", habits.habit_grid, name="habits"),
    path(section + "habits/cell/", habits.habit_cell, name="habit_cell"),
    path("students/<int:student_id>/", students.student_detail, name="student_detail"),
    path("targets/", students.target_list, name="target_list"),
    path("targets/<int:target_id>/", students.target_detail, name="target_detail"),
    path(
        "departments/<int:department_id>/targets/",
        framework.department_targets,
        name="department_targets",
    ),
    path(
        "departments/<int:department_id>/targets/new/",
        framework.target_create,
        name="target_create",
    ),
    path(
        "departments/<int:department_id>/targets/import/",
        framework.target_import,
        name="target_import",
    ),
    path(
        "departments/<int:department_id>/targets/<int:target_id>/edit/",
        framework.target_edit,
        name="target_edit",
    ),
    path(
        "departments/<int:department_id>/targets/<int:target_id>/move/",
        framework.target_move_view,
        name="target_move",
    ),
    path(
        "departments/<int:department_id>/competencies/new/",
        framework.competency_create,
        name="competency_create",
    ),
    path(
        "departments/<int:department_id>/competencies/<int:competency_id>/edit/",
        framework.competency_edit,
        name="competency_edit",
    ),
    path(section + "export.csv", export_views.section_export, name="section_export"),
    path("exports/mastery.csv", export_views.mastery_export, name="mastery_export"),
    path(
        section + "requests.csv",
        export_views.section_requests_export,
        name="section_requests_export",
    ),
    path("exports/requests.csv", export_views.requests_export, name="requests_export"),
    path("rostering/import/", rostering_views.oneroster_import, name="oneroster_import"),
    path("feedback/", feedback_views.feedback_settings, name="feedback_settings"),
]
