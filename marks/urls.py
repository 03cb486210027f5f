"""/s/<school>/marks/: posting a section's marks, the school's posting progress, the periods'
windows, the comment bank and the CSV exports of record."""

from django.urls import path

app_name = "marks"

# Each block is one page family; see the module each imports.
urlpatterns: list = [
    # --- posting (marks.views.posting) ---
    # --- school admin: periods, progress, overrides, comment bank (marks.views.admin) ---
    # --- exports (marks.views.exports) ---
]
