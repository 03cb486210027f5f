"""/s/<school>/marks/: posting a section's marks, the school's posting progress, the periods'
windows, the comment bank and the CSV exports of record."""

from django.urls import path

from marks.views import admin, exports, posting

app_name = "marks"

# Each block is one page family; see the module each imports.
urlpatterns: list = [
    # --- posting (marks.views.posting) ---
    path("sections/<int:section_id>/", posting.post_marks, name="post"),
    path("sections/<int:section_id>/history/", posting.mark_history, name="history"),
    # --- school admin: periods, progress, overrides, comment bank (marks.views.admin) ---
    path("", admin.progress_page, name="progress"),
    path("periods/", admin.periods_page, name="periods"),
    path("comments/", admin.comments_page, name="comments"),
    path("comments/<int:comment_id>/", admin.comment_edit, name="comment"),
    # --- exports (marks.views.exports) ---
    path(
        "sections/<int:section_id>/export.csv",
        exports.section_marks_export,
        name="section_export",
    ),
    path("export.csv", exports.school_marks_export, name="school_export"),
]
