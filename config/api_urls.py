"""/api/: the versioned REST API, its OpenAPI schema and its docs (self-hosted Swagger UI)."""

from django.urls import include, path, re_path
from drf_spectacular.views import SpectacularAPIView, SpectacularSwaggerSplitView
from rest_framework.permissions import AllowAny
from rest_framework.routers import SimpleRouter

from gradebook import api as gradebook_api
from gradebook import api_files, api_requests, api_self, api_targets
from intervention import api as intervention_api
from marks import api as marks_api
from mastery import api as mastery_api
from mastery.rest import api_not_found
from reports import api as reports_api

router = SimpleRouter()
router.register("schools", mastery_api.SchoolList, basename="school")
school = r"schools/(?P<school_slug>[a-z0-9]+(?:-[a-z0-9]+)*)"
for prefix, viewset, basename in [
    ("scale", mastery_api.ScaleViewSet, "scale"),
    ("departments", mastery_api.DepartmentViewSet, "department"),
    ("competencies", mastery_api.CompetencyViewSet, "competency"),
    ("targets", api_targets.TargetViewSet, "target"),
    ("frameworks", mastery_api.FrameworkViewSet, "framework"),
    ("terms", gradebook_api.TermViewSet, "term"),
    ("courses", gradebook_api.CourseViewSet, "course"),
    ("sections", gradebook_api.SectionViewSet, "section"),
    ("students", gradebook_api.StudentViewSet, "student"),
    ("enrollments", gradebook_api.EnrollmentViewSet, "enrollment"),
    ("assessments", gradebook_api.AssessmentViewSet, "assessment"),
    ("evidence", gradebook_api.EvidenceViewSet, "evidence"),
    ("mastery", gradebook_api.MasteryViewSet, "mastery"),
    ("reassessment-requests", api_requests.ReassessmentRequestViewSet, "reassessment-request"),
    ("reassessment-rules", api_requests.ReassessmentRuleViewSet, "reassessment-rule"),
    ("self-assessments", api_self.SelfAssessmentViewSet, "self-assessment"),
    ("evidence-files", api_files.EvidenceFileViewSet, "evidence-file"),
    ("submissions", api_files.SubmissionViewSet, "submission"),
    ("cycles", intervention_api.CycleViewSet, "cycle"),
    ("groups", intervention_api.GroupViewSet, "group"),
    ("roster-entries", intervention_api.RosterEntryViewSet, "roster-entry"),
    ("report-batches", reports_api.ReportBatchViewSet, "report-batch"),
    ("reports", reports_api.StudentReportViewSet, "student-report"),
    ("posted-marks", marks_api.PostedMarkViewSet, "posted-mark"),
    ("comment-bank", marks_api.CommentBankViewSet, "comment-bank"),
]:
    router.register(f"{school}/{prefix}", viewset, basename=basename)

school_detail = mastery_api.SchoolDetail.as_view({"get": "retrieve"})

app_name = "api"
urlpatterns = [
    path("v1/", include(router.urls)),
    re_path(rf"^v1/{school}/$", school_detail, name="school-detail"),
    path("schema/", SpectacularAPIView.as_view(permission_classes=[AllowAny]), name="schema"),
    # Swagger UI from the self-hosted sidecar assets; its script is served from a URL of its own
    # (the split view) because our CSP allows no inline script.
    path(
        "docs/",
        SpectacularSwaggerSplitView.as_view(url_name="api:schema", permission_classes=[AllowAny]),
        name="docs",
    ),
    re_path(r"^.*$", api_not_found),
]
