"""/ims/oneroster/gradebook/v1p2/: the OneRoster 1.2 Gradebook REST binding (read), sis.rest.

Path parameter names as the binding's OpenAPI definition has them: classSourcedId,
lineItemSourcedId, studentSourcedId, schoolSourcedId, sourcedId.
"""

from django.urls import path

from sis.rest import GradebookView

app_name = "oneroster_gradebook"


def view(entity: str):
    return GradebookView.as_view(entity=entity)


urlpatterns = [
    path("categories", view("categories"), name="categories"),
    path("categories/<str:sourced_id>", view("categories"), name="category"),
    path("lineItems", view("lineItems"), name="line_items"),
    path("lineItems/<str:sourced_id>", view("lineItems"), name="line_item"),
    path("results", view("results"), name="results"),
    path("results/<str:sourced_id>", view("results"), name="result"),
    path("scoreScales", view("scoreScales"), name="score_scales"),
    path("scoreScales/<str:sourced_id>", view("scoreScales"), name="score_scale"),
    path("classes/<str:class_id>/categories", view("categories"), name="class_categories"),
    path("classes/<str:class_id>/lineItems", view("lineItems"), name="class_line_items"),
    path("classes/<str:class_id>/results", view("results"), name="class_results"),
    path(
        "classes/<str:class_id>/lineItems/<str:line_item_id>/results",
        view("results"),
        name="class_line_item_results",
    ),
    path(
        "classes/<str:class_id>/students/<str:student_id>/results",
        view("results"),
        name="class_student_results",
    ),
    path("classes/<str:class_id>/scoreScales", view("scoreScales"), name="class_score_scales"),
    path("schools/<str:school_id>/scoreScales", view("scoreScales"), name="school_score_scales"),
]
