"""School A / school B isolation, the scope guard, the task base class, login and the home page."""

from __future__ import annotations

import re

import pytest
from celery import shared_task
from django.core import mail
from django.test import Client
from django.urls import URLPattern, URLResolver, get_resolver, reverse
from django_scopes import ScopeError, scope, scopes_disabled

from gradebook.models import Evidence, Mastery, ReassessmentRule, Student
from intervention.models import InterventionGroup, RosterEntry
from mastery.models import District, DistrictMembership, Membership, Role
from mastery.tasks import SchoolTask
from reports.models import ReportBatch, StudentGoal
from tests.factories import (
    PASSWORD,
    make_comment_entry,
    make_evidence,
    make_evidence_file,
    make_intervention,
    make_posted_mark,
    make_request,
    make_run,
    make_self_assessment,
    make_sis_delivery,
    make_submission,
    make_user,
)
from tests.mastery.case.support import framework_of
from tests.reports.report_card_support import posted_period_of
from tests.years.support import rollover_of, school_year_of

# How to fill each URL parameter with an object of a given world. A new school URL whose
# parameter is missing here fails test_every_school_url_parameter_has_a_fixture.
URL_OBJECTS = {
    "section_id": lambda w: w.section.id,
    "student_id": lambda w: w.student.id,
    "target_id": lambda w: w.targets[0].id,
    "assessment_id": lambda w: w.assessment.id,
    "evidence_id": lambda w: make_evidence(w).evidence.id,
    "request_id": lambda w: make_request(w).id,
    "department_id": lambda w: w.department.id,
    "competency_id": lambda w: w.competency.id,
    "course_id": lambda w: w.course.id,
    "run_id": lambda w: make_run(w).id,
    "cycle_id": lambda w: intervention_of(w)["cycle"].id,
    "weekday": lambda w: 2,
    "entry_id": lambda w: intervention_of(w)["entry"].id,
    "group_id": lambda w: intervention_of(w)["group"].id,
    "goal_id": lambda w: make_goal(w).id,
    "batch_id": lambda w: make_batch(w).id,
    "year_id": lambda w: school_year_of(w).id,
    "rollover_id": lambda w: rollover_of(w).id,
    "framework_id": lambda w: framework_of(w).id,
    "file_id": lambda w: make_evidence_file(w).file_id,
    "attachment_id": lambda w: make_evidence_file(w).id,
    "submission_id": lambda w: make_submission(w).id,
    "rating_id": lambda w: make_self_assessment(w).id,
    "period_id": lambda w: posted_period_of(w).id,
    "comment_id": lambda w: make_comment_entry(w).id,
    "delivery_id": lambda w: make_sis_delivery(w).id,
}


def _mastery_of(w):

    make_evidence(w)
    with scopes_disabled():
        return Mastery.objects.filter(school=w.school).first()


# The REST API's object ids (`pk`), by route basename: /api/v1/schools/<slug>/<resource>/<pk>/.
API_OBJECTS = {
    "department": lambda w: w.department.id,
    "competency": lambda w: w.competency.id,
    "target": lambda w: w.targets[0].id,
    "term": lambda w: w.term.id,
    "course": lambda w: w.course.id,
    "section": lambda w: w.section.id,
    "student": lambda w: w.student.id,
    "student-report": lambda w: w.student.id,
    "enrollment": lambda w: w.student.enrollments.get().id,
    "assessment": lambda w: w.assessment.id,
    "evidence": lambda w: make_evidence(w).evidence.id,
    "mastery": lambda w: _mastery_of(w).id,
    "cycle": lambda w: intervention_of(w)["cycle"].id,
    "group": lambda w: intervention_of(w)["group"].id,
    "roster-entry": lambda w: intervention_of(w)["entry"].id,
    "report-batch": lambda w: make_batch(w).id,
    "reassessment-request": lambda w: make_request(w).id,
    "reassessment-rule": lambda w: ReassessmentRule.objects.get_or_create(school=w.school)[0].id,
    "self-assessment": lambda w: make_self_assessment(w).id,
    "evidence-file": lambda w: make_evidence_file(w).file_id,
    "submission": lambda w: make_submission(w).id,
    "framework": lambda w: framework_of(w).id,
    "posted-mark": lambda w: make_posted_mark(w).id,
    "comment-bank": lambda w: make_comment_entry(w).id,
}


def api_basename(name: str) -> str:
    """api:report-batch-download → report-batch (the longest known basename it starts with)."""
    route = name.removeprefix("api:")
    return max((b for b in API_OBJECTS if route.startswith(f"{b}-")), key=len, default=route)


def make_goal(w):

    with scopes_disabled():
        return StudentGoal.objects.create(
            school=w.school, student=w.student, target=w.targets[0], note="goal"
        )


def make_batch(w):

    with scopes_disabled():
        return ReportBatch.objects.create(school=w.school, requested_by=w.admin, total=0)


def intervention_of(w):
    """An open cycle with one group and one roster entry in the world (made once per world)."""
    if "intervention" not in w.extra:
        make_evidence(w, score="2")  # students[1] below mastery on targets[0]
        cycle = make_intervention(w)
        with scopes_disabled():
            w.extra["intervention"] = {
                "cycle": cycle,
                "group": InterventionGroup.objects.get(school=w.school, cycle=cycle, weekday=2),
                "entry": RosterEntry.objects.get(school=w.school, cycle=cycle, weekday=2),
            }
    return w.extra["intervention"]


def school_url_patterns():
    """(name, params) of every URL pattern under /s/<school_slug>/."""

    def walk(patterns, prefix, namespace):
        for p in patterns:
            if isinstance(p, URLResolver):
                ns = f"{namespace}{p.namespace}:" if p.namespace else namespace
                yield from walk(p.url_patterns, prefix + str(p.pattern), ns)
            elif isinstance(p, URLPattern) and p.name:
                route = prefix + str(p.pattern)
                params = re.findall(r"<(?:\w+:)?(\w+)>", route)
                if "school_slug" in params:
                    yield f"{namespace}{p.name}", [x for x in params if x != "school_slug"]

    return sorted(
        {(name, tuple(params)) for name, params in walk(get_resolver().url_patterns, "", "")}
    )


SCHOOL_URLS = school_url_patterns()


def url_for(name, params, slug_world, object_world):
    kwargs = {"school_slug": slug_world.school.slug}
    with scopes_disabled():
        for p in params:
            if p == "pk":
                kwargs[p] = API_OBJECTS[api_basename(name)](object_world)
            else:
                kwargs[p] = URL_OBJECTS[p](object_world)
    return reverse(name, kwargs=kwargs)


def test_every_school_url_parameter_has_a_fixture():
    assert SCHOOL_URLS, "no school URLs found"
    assert any(name.startswith("api:") for name, _ in SCHOOL_URLS), "the API is swept too"
    for name, params in SCHOOL_URLS:
        for param in params:
            if param == "pk":
                assert api_basename(name) in API_OBJECTS, f"{name}: add it to API_OBJECTS"
            else:
                assert param in URL_OBJECTS, f"{name}: add {param} to URL_OBJECTS"


MEMBERS = ["admin", "teacher", "counselor", "guardian", "student_user"]


def fetch(client, url):
    """GET the URL; a POST-only endpoint (405) is POSTed instead, as a form or htmx would."""
    response = client.get(url)
    if response.status_code == 405:
        response = client.post(
            url, {"reason": "x", "value": "3", "status": "declined"}, HTTP_HX_REQUEST="true"
        )
    return response


@pytest.mark.parametrize(("name", "params"), SCHOOL_URLS)
@pytest.mark.parametrize("member", MEMBERS)
def test_every_school_url_of_b_answers_404_to_members_of_a(
    client, world_a, world_b, name, params, member
):
    client.force_login(getattr(world_a, member))
    response = fetch(client, url_for(name, params, world_b, world_b))
    assert response.status_code == 404


@pytest.mark.parametrize(("name", "params"), [u for u in SCHOOL_URLS if u[1]])
def test_a_foreign_object_id_inside_ones_own_school_answers_404(
    client, world_a, world_b, name, params
):
    # /s/alpha/sections/<a section of beta>/ must not show beta's section (page, fragment or POST).
    # Some pages are for one role only (403 to the others): ask as each role until one may use it.
    url = url_for(name, params, world_a, world_b)
    for member in ("admin", "teacher", "counselor", "student_user", "guardian"):
        client.force_login(getattr(world_a, member))
        response = fetch(client, url)
        if response.status_code != 403:
            break
    assert response.status_code == 404


@pytest.mark.parametrize(("name", "params"), SCHOOL_URLS)
def test_a_user_without_membership_gets_404_and_anonymous_users_are_sent_to_log_in(
    client, world_a, outsider, name, params
):
    url = url_for(name, params, world_a, world_a)
    anonymous = client.get(url)
    if name.startswith("api:"):
        assert anonymous.status_code == 401  # machines get no login page
    else:
        assert anonymous.status_code == 302 and anonymous["Location"].startswith(reverse("login"))
    client.force_login(outsider)
    assert fetch(client, url).status_code == 404


def test_an_unknown_school_answers_404_not_500(client, world_a):
    client.force_login(world_a.admin)
    assert client.get("/s/no-such-school/").status_code == 404


def test_a_query_on_a_tenant_model_outside_a_school_scope_raises(world_a, world_b):
    with pytest.raises(ScopeError):
        list(Student.objects.all())
    with pytest.raises(ScopeError):
        Evidence.objects.filter(student=world_a.student).count()


def test_inside_a_scope_queries_only_see_that_school(world_a, world_b):
    with scope(school=world_a.school):
        names = set(Student.objects.values_list("school__slug", flat=True))
    assert names == {"alpha"}
    with scope(school=world_b.school):
        assert Student.objects.filter(id=world_a.student.id).count() == 0


@shared_task(base=SchoolTask, bind=True, name="tests.count_students")
def count_students(self, *, school_id):
    return Student.objects.count()


def test_the_task_base_class_runs_inside_the_school_scope(world_a, world_b):
    assert count_students.apply(kwargs={"school_id": world_a.school.id}).get() == 3 + 2
    with pytest.raises(ValueError, match="school_id"):
        count_students.apply(kwargs={}).get()


def test_home_goes_straight_to_the_only_school(client, world_a):
    client.force_login(world_a.teacher)
    response = client.get(reverse("home"))
    assert response.status_code == 302
    assert response["Location"] == reverse("school_home", kwargs={"school_slug": "alpha"})


def test_home_lists_every_school_of_a_user_with_several(client, world_a, world_b):
    with scopes_disabled():
        Membership.objects.create(school=world_b.school, user=world_a.teacher, role=Role.COUNSELOR)
    client.force_login(world_a.teacher)
    response = client.get(reverse("home"))
    assert response.status_code == 200
    assert b"School ALPHA" in response.content and b"School BETA" in response.content


def test_a_district_admin_enters_every_school_of_the_district_only(client, world_a, world_b):
    district = District.objects.create(name="North", slug="north")
    world_a.school.district = district
    world_a.school.save()
    chief = make_user("chief@north.test", "Chief")
    DistrictMembership.objects.create(district=district, user=chief)
    client.force_login(chief)
    assert client.get(reverse("school_home", kwargs={"school_slug": "alpha"})).status_code == 200
    assert client.get(reverse("school_home", kwargs={"school_slug": "beta"})).status_code == 404


def test_login_by_email_ignores_case_and_lands_in_the_school(world_a):
    client = Client()
    response = client.post(
        reverse("login"), {"username": "Teacher@ALPHA.test", "password": PASSWORD}, follow=True
    )
    assert response.redirect_chain[-1][0] == reverse("school_home", kwargs={"school_slug": "alpha"})
    assert b"My sections" in response.content


def test_a_wrong_password_gets_a_clear_message(client, world_a):
    response = client.post(reverse("login"), {"username": "teacher@alpha.test", "password": "nope"})
    assert response.status_code == 200
    assert b"do not match an account" in response.content


def test_login_is_throttled_after_repeated_failures(client, world_a, settings):
    settings.AXES_FAILURE_LIMIT = 3
    for _ in range(3):
        client.post(reverse("login"), {"username": "teacher@alpha.test", "password": "nope"})
    response = client.post(
        reverse("login"), {"username": "teacher@alpha.test", "password": PASSWORD}
    )
    assert response.status_code == 200
    assert b"Too many failed attempts" in response.content
    assert "_auth_user_id" not in client.session


def test_password_reset_mails_a_link_that_sets_a_new_password(world_a):
    client = Client()
    response = client.post(reverse("password_reset"), {"email": "guardian@alpha.test"})
    assert response.status_code == 302
    assert len(mail.outbox) == 1
    link = re.search(r"http://testserver(/accounts/reset/\S+)", mail.outbox[0].body).group(1)
    form_page = client.get(link, follow=True)
    new = "a-much-better-passphrase"
    response = client.post(
        form_page.redirect_chain[-1][0], {"new_password1": new, "new_password2": new}
    )
    assert response.status_code == 302
    assert Client().login(username="guardian@alpha.test", password=new)


def test_logout_is_a_post(client, world_a):
    client.force_login(world_a.teacher)
    assert client.post(reverse("logout")).status_code == 302
    assert "_auth_user_id" not in client.session


def test_pages_carry_a_content_security_policy_and_deny_framing(client, world_a):
    client.force_login(world_a.teacher)
    response = client.get(reverse("school_home", kwargs={"school_slug": "alpha"}))
    csp = response["Content-Security-Policy"]
    assert "default-src 'self'" in csp and "script-src 'self' 'nonce-" in csp
    assert response["X-Frame-Options"] == "DENY"
    nonce = re.search(r"'nonce-([^']+)'", csp).group(1)
    assert f'nonce="{nonce}"'.encode() in response.content  # the htmx script carries the nonce


def test_health_check_reports_the_database(client, db):
    assert client.get(reverse("healthz")).json() == {"ok": True, "database": "postgresql"}
