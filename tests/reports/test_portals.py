"""The family and student portals (their cache, goals) and invitations."""

from __future__ import annotations

import re

import pytest
from django.core.cache import cache
from django.test import Client
from django.urls import reverse
from django_scopes import scope, scopes_disabled

from gradebook.models import Evidence, Guardianship
from gradebook.services.grid import feedback_save
from grading.services import policy_change
from mastery import pagecache
from mastery.models import Membership, Role
from reports.models import GuardianInvitation, StudentGoal
from reports.services.invitations import invitation_create
from tests.factories import PASSWORD, make_attempt

# --- The family portal -----------------------------------------------------------------------------


@pytest.fixture
def two_children(rich, world_b):
    """The guardian of student 0 in school A also has student 0 of school B."""
    with scopes_disabled():
        Membership.objects.create(school=world_b.school, user=rich.guardian, role=Role.GUARDIAN)
        Guardianship.objects.create(
            school=world_b.school, guardian=rich.guardian, student=world_b.students[0]
        )
    return rich, world_b


def test_a_guardian_with_two_children_in_two_schools_sees_both_and_nothing_else(
    client, two_children
):
    a, b = two_children
    client.force_login(a.guardian)
    home = client.get(reverse("home"))
    assert home.status_code == 302 and home["Location"] == reverse("family_home")
    page = client.get(reverse("family_home")).content.decode()
    assert a.student.display_name in page and b.students[0].display_name in page
    assert a.students[1].display_name not in page
    for w, student in ((a, a.student), (b, b.students[0])):
        assert (
            client.get(reverse("reports:child", args=[w.school.slug, student.id])).status_code
            == 200
        )
    # Another family's child, in the same school or across: 404.
    assert (
        client.get(reverse("reports:child", args=[a.school.slug, a.students[1].id])).status_code
        == 404
    )
    assert (
        client.get(
            reverse("reports:child_report", args=[a.school.slug, a.students[1].id])
        ).status_code
        == 404
    )
    assert (
        client.get(reverse("reports:child", args=[a.school.slug, b.students[0].id])).status_code
        == 404
    )


def test_the_child_page_shows_levels_descriptors_feedback_and_opportunities(client, rich):
    client.force_login(rich.guardian)
    page = client.get(
        reverse("reports:child", args=[rich.school.slug, rich.student.id])
    ).content.decode()
    assert "I can do thing 1." in page and "2.65" in page and "Developing" in page
    assert "Next step, to reach Proficient" in page and "Show every step next time." in page
    assert "Chances to show it again" in page and "Latest work" in page
    # The family's navigation leads home to the portal, not to the staff pages.
    for staff_page in ("gradebook:target_list", "intervention:home", "policy"):
        assert reverse(staff_page, args=[rich.school.slug]) not in page
    assert f'href="{reverse("home")}"' in page


# --- The portal's cache (mastery/pagecache.py) -----------------------------------------------------


def child_page(client, w) -> str:
    return client.get(reverse("reports:child", args=[w.school.slug, w.student.id])).content.decode()


def test_a_new_score_shows_on_the_cached_child_page_at_once(client, rich):
    w = rich
    client.force_login(w.guardian)
    assert "2.65" in child_page(client, w)  # built and cached
    with scopes_disabled():
        cached = set(cache._cache.get_client().keys("*portal:*:family:*"))
    assert cached, "the child page's body is cached"
    make_attempt(w, w.student, w.targets[0], "4", days_ago=1, feedback="Excellent work.")
    page = child_page(client, w)
    assert "Excellent work." in page and "2.65" not in page


def test_feedback_and_a_policy_change_reach_the_cached_pages(
    client, rich, django_capture_on_commit_callbacks
):
    w = rich
    client.force_login(w.guardian)
    child_page(client, w)
    with scope(school=w.school):
        latest = Evidence.objects.filter(student=w.student, target=w.targets[0]).latest("id")
        feedback_save(
            school=w.school,
            written_by=w.teacher,
            assessment=latest.assessment,
            student_id=w.student.id,
            text="See me about the retake.",
        )
    assert "See me about the retake." in child_page(client, w)
    with scope(school=w.school), django_capture_on_commit_callbacks(execute=True):
        policy_change(school=w.school, changed_by=w.admin, method="highest", note="Best work")
    # The recompute (run inline in tests) rewrites the records: the page says "highest" now.
    assert "the highest score" in child_page(client, w)


def test_the_cached_body_is_the_same_for_every_viewer_and_holds_no_token(client, rich):
    w = rich
    client.force_login(w.guardian)
    first = child_page(client, w)
    client.force_login(w.admin)  # staff preview the family view: the same cached body
    second = child_page(client, w)
    body = re.search(r'<p class="muted">.*', first, re.S).group(0).split("</main>")[0]
    assert body in second
    assert "csrfmiddlewaretoken" not in body and w.guardian.full_name not in body


def test_a_version_bump_is_one_incr_per_key_and_counts_from_nothing(
    rich, django_capture_on_commit_callbacks
):

    redis = cache._cache.get_client(None, write=True)
    keys = [pagecache._student_key(rich.school.id, s.id) for s in rich.students[:3]]
    cache.delete_many(keys)

    def calls(command: str) -> int:
        return redis.info("commandstats").get(f"cmdstat_{command}", {}).get("calls", 0)

    before = {c: calls(c) for c in ("incrby", "exists", "set")}  # redis-py sends INCRBY
    with django_capture_on_commit_callbacks(execute=True):
        pagecache.students_changed(rich.school.id, [s.id for s in rich.students[:3]])
    # Bumped at once and again at commit: 2, read back as ints by the pages' get_many.
    assert cache.get_many(keys) == dict.fromkeys(keys, 2)
    assert redis.ttl(cache.make_and_validate_key(keys[0])) == -1  # never expires on its own
    assert calls("incrby") - before["incrby"] == 6
    assert calls("exists") == before["exists"] and calls("set") == before["set"]


def test_the_portal_works_when_the_cache_is_down(client, rich, monkeypatch):

    class Down:
        def __getattr__(self, name):
            def fail(*args, **kwargs):
                raise ConnectionError("cache down")

            return fail

    monkeypatch.setattr(pagecache, "cache", Down())
    client.force_login(rich.guardian)
    assert "2.65" in child_page(client, rich)
    make_attempt(rich, rich.student, rich.targets[0], "4", days_ago=1)  # writes go on
    assert "2.65" not in child_page(client, rich)


@pytest.mark.parametrize("method", ["post", "put", "patch", "delete"])
def test_every_write_to_the_family_portal_answers_405_and_changes_nothing(client, rich, method):
    client.force_login(rich.guardian)
    with scopes_disabled():
        before = (StudentGoal.objects.count(), GuardianInvitation.objects.count())
    for url in (
        reverse("family_home"),
        reverse("reports:child", args=[rich.school.slug, rich.student.id]),
        reverse("reports:child_report", args=[rich.school.slug, rich.student.id]),
    ):
        assert getattr(client, method)(url).status_code == 405, url
    with scopes_disabled():
        assert (StudentGoal.objects.count(), GuardianInvitation.objects.count()) == before


def test_a_guardian_cannot_write_anywhere_else_either(client, rich):
    client.force_login(rich.guardian)
    school = rich.school.slug
    score_cell = reverse("gradebook:score_cell", args=[school, rich.section.id, rich.assessment.id])
    writes = [
        (score_cell, {f"c-{rich.student.id}-{rich.targets[0].id}": "4"}),
        (reverse("reports:goal_add", args=[school]), {"target": rich.targets[0].id, "note": "x"}),
        (reverse("policy", args=[school]), {"action": "save"}),
        (reverse("reports:families", args=[school]), {"email": "x@y.z"}),
        (reverse("intervention:cycle_open", args=[school]), {}),
    ]
    for url, data in writes:
        assert client.post(url, data).status_code in (403, 404), url


def test_staff_can_preview_the_family_view_of_a_student_they_may_see(client, rich):
    client.force_login(rich.counselor)
    assert (
        client.get(reverse("reports:child", args=[rich.school.slug, rich.student.id])).status_code
        == 200
    )
    client.force_login(rich.other_teacher)  # does not teach this student
    assert (
        client.get(reverse("reports:child", args=[rich.school.slug, rich.student.id])).status_code
        == 404
    )


# --- The student portal and goals ------------------------------------------------------------------


def test_a_student_sees_their_own_progress_and_sets_goals_their_teacher_sees(
    client, rich, in_school
):
    w = rich
    client.force_login(w.student_user)
    assert client.get(reverse("home"))["Location"] == reverse("reports:me", args=[w.school.slug])
    page = client.get(reverse("reports:me", args=[w.school.slug])).content.decode()
    assert "My progress" in page and "I can do thing 1." in page
    response = client.post(
        reverse("reports:goal_add", args=[w.school.slug]),
        {"target": w.targets[1].id, "note": "Practice set 3 by Friday"},
    )
    assert response.status_code == 302
    with in_school(w):
        goal = StudentGoal.objects.get(student=w.student)
    assert goal.note == "Practice set 3 by Friday"
    # "My goals" names the target as the student reads it, not by its code.
    page = client.get(reverse("reports:me", args=[w.school.slug])).content.decode()
    (listed,) = re.findall(r"<li>[^<]*<strong>[^<]*</strong> Practice set 3 by Friday", page)
    assert "I can do thing 2." in listed and w.targets[1].code not in listed
    client.post(reverse("reports:goal_done", args=[w.school.slug, goal.id]))
    goal.refresh_from_db()
    assert goal.achieved_at is not None
    client.force_login(w.teacher)
    detail = client.get(
        reverse(
            "gradebook:cell_detail",
            args=[w.school.slug, w.section.id, w.student.id, w.targets[1].id],
        )
    )
    assert (
        "The student&#x27;s goals" in detail.content.decode()
        or "The student's goals" in detail.content.decode()
    )
    assert "Practice set 3 by Friday" in detail.content.decode()


def test_a_student_cannot_set_a_goal_outside_their_courses_or_see_others(client, rich, world_b):
    w = rich
    client.force_login(w.student_user)
    client.post(
        reverse("reports:goal_add", args=[w.school.slug]),
        {"target": world_b.targets[0].id, "note": "x"},
    )
    with scopes_disabled():
        assert not StudentGoal.objects.exists()
    assert (
        client.get(reverse("reports:child", args=[w.school.slug, w.students[1].id])).status_code
        == 404
    )
    client.force_login(w.guardian)  # a guardian is not a student
    assert client.get(reverse("reports:me", args=[w.school.slug])).status_code == 403


# --- Invitations -----------------------------------------------------------------------------------


def test_a_guardian_joins_with_the_invitation_link_sets_a_password_and_sees_the_children(
    client, rich
):
    w = rich
    client.force_login(w.counselor)
    response = client.post(
        reverse("reports:families", args=[w.school.slug]),
        {
            "full_name": "Rosa Díaz",
            "email": "Rosa@Example.test",
            "language": "es",
            "relationship": "mother",
            "students": [w.students[1].id, w.students[2].id],
        },
    )
    assert response.status_code == 200
    page = response.content.decode()
    link = re.search(r"http://testserver(/invite/[\w-]+/)", page).group(1)
    code = re.search(r'class="letter__code">([A-Z0-9-]+)<', page).group(1)
    assert "Estimado/a Rosa Díaz" in page and code
    with scopes_disabled():
        invitation = GuardianInvitation.objects.get()
    assert code not in invitation.code_digest and link.split("/")[2] not in invitation.token_digest

    visitor = Client()
    form = visitor.get(link)
    assert (
        form.status_code == 200 and "Unirse al portal para familias" in form.content.decode()
    )  # in her language
    joined = visitor.post(
        link,
        {
            "full_name": "Rosa Díaz",
            "language": "es",
            "password1": "a-long-passphrase",
            "password2": "a-long-passphrase",
        },
    )
    assert joined.status_code == 302 and joined["Location"] == reverse("family_home")
    family = visitor.get(reverse("family_home")).content.decode()
    assert w.students[1].display_name in family and w.students[2].display_name in family
    assert w.students[0].display_name not in family
    assert Client().login(username="rosa@example.test", password="a-long-passphrase")
    # Used once: the same link, and the code, no longer work.
    assert Client().get(link).status_code == 404
    again = Client().post(reverse("invitation_code"), {"code": code})
    assert again.status_code == 422 and "not valid" in again.content.decode()


def test_a_guardian_can_join_with_the_code_from_the_letter(rich, in_school):
    with scope(school=rich.school):
        invitation, token, code = invitation_create(
            school=rich.school,
            created_by=rich.admin,
            email="dad@example.test",
            full_name="Dad",
            language="en",
            students=[rich.students[2]],
        )
    visitor = Client()
    step = visitor.post(reverse("invitation_code"), {"code": code.lower().replace("-", " ")})
    assert step.status_code == 302
    done = visitor.post(
        step["Location"],
        {
            "full_name": "Dad",
            "language": "en",
            "password1": "dad-password-2026",
            "password2": "dad-password-2026",
        },
    )
    assert done.status_code == 302
    with in_school(rich):
        assert Guardianship.objects.filter(
            guardian__email="dad@example.test", student=rich.students[2]
        ).exists()


def test_an_expired_or_mistyped_invitation_is_refused_clearly(rich):
    with scope(school=rich.school):
        invitation, token, code = invitation_create(
            school=rich.school,
            created_by=rich.admin,
            email="late@example.test",
            full_name="Late",
            language="en",
            students=[rich.students[2]],
        )
    with scopes_disabled():
        GuardianInvitation.objects.filter(pk=invitation.pk).update(expires_at=invitation.created_at)
    assert Client().get(reverse("invitation_accept", args=[token])).status_code == 404
    wrong = Client().post(reverse("invitation_code"), {"code": "AAAAA-BBBBB"})
    assert wrong.status_code == 422


def test_an_existing_account_is_asked_to_log_in_before_accepting(client, rich, in_school):
    with scope(school=rich.school):
        _, token, _ = invitation_create(
            school=rich.school,
            created_by=rich.admin,
            email=rich.teacher.email,
            full_name="Tess",
            language="en",
            students=[rich.students[2]],
        )
    visitor = Client()
    response = visitor.get(reverse("invitation_accept", args=[token]))
    assert response.status_code == 302 and response["Location"].startswith(reverse("login"))
    visitor.login(username=rich.teacher.email, password=PASSWORD)
    accepted = visitor.post(
        reverse("invitation_accept", args=[token]), {"full_name": "Tess", "language": "en"}
    )
    assert accepted.status_code == 302
    with in_school(rich):
        assert Guardianship.objects.filter(guardian=rich.teacher, student=rich.students[2]).exists()


def test_only_admins_and_counselors_invite_families(client, rich):
    client.force_login(rich.teacher)
    assert client.get(reverse("reports:families", args=[rich.school.slug])).status_code == 403


def test_a_spanish_student_chooses_a_goals_target_in_spanish(client, rich, in_school):
    w = rich
    w.student_user.preferred_language = "es"
    w.student_user.save(update_fields=["preferred_language"])
    client.force_login(w.student_user)
    page = client.get(reverse("reports:me", args=[w.school.slug])).content.decode()
    # The goal form's empty choice was Django's English "- Select an option -".
    assert "Mis metas" in page and "Elija un objetivo" in page
    assert "Select an option" not in page
