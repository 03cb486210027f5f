"""The audit trail records every change to evidence, policy, scale, targets, rosters and
memberships with who, when, before and after."""

from __future__ import annotations

import io
import json
from datetime import date, timedelta
from pathlib import Path

import pytest
from django.core.management import call_command
from django.test import Client
from django.urls import reverse
from django_scopes import scope, scopes_disabled

from gradebook.oneroster.package import read_path
from gradebook.oneroster.service import oneroster_import
from gradebook.services.assessments import assessment_save
from gradebook.services.evidence import EvidenceError, evidence_void
from gradebook.services.grid import evidence_enter, evidence_fill, evidence_undo
from grading.services import policy_change, policy_remove_override
from intervention.models import RosterEntry
from intervention.services import cycle_close, entry_move, roster_rebuild
from mastery.models import AuditEvent, Membership, ProficiencyScale, Role
from mastery.services import (
    api_token_create,
    competency_save,
    target_move,
    target_save,
    targets_import_csv,
)
from reports.services.invitations import invitation_accept, invitation_create
from tests.factories import make_evidence, make_intervention, make_user
from tests.mastery.audit import Type, events

HTMX = {"HTTP_HX_REQUEST": "true"}


ONEROSTER = Path(__file__).resolve().parents[1] / "fixtures" / "oneroster"


# --- Helpers ---------------------------------------------------------------------------------------


def enter(w, text, *, student=None, target=None):
    with scope(school=w.school):
        return evidence_enter(
            school=w.school,
            entered_by=w.teacher,
            student_id=(student or w.student).id,
            target_id=(target or w.targets[0]).id,
            assessment_id=w.assessment.id,
            text=text,
        )


def admin_form_data(response) -> dict:
    """What the admin's change page would post back unchanged (the form and its inlines)."""
    data = {}

    def add(form):
        for name in form.fields:
            value = form[name].value()
            if value is None or value is False:
                continue
            data[form.add_prefix(name)] = "on" if value is True else value

    add(response.context["adminform"].form)
    for inline in response.context["inline_admin_formsets"]:
        formset = inline.formset
        for name in formset.management_form.fields:
            data[f"{formset.prefix}-{name}"] = formset.management_form[name].value()
        for form in formset.forms:
            add(form)
    return data


# --- Evidence --------------------------------------------------------------------------------------


def test_recording_and_replacing_a_score_record_who_before_and_after(world_a):
    w = world_a
    first = make_evidence(w, w.student, score="2")
    day = w.assessment.assessed_on + timedelta(days=1)
    second = make_evidence(w, w.student, score="3", feedback="Much better.", assessed_on=day)
    make_evidence(
        w, w.student, score="3", feedback="Much better.", assessed_on=day
    )  # the same again: nothing changes

    recorded, replaced = events(w, Type.EVIDENCE)
    assert (recorded.action, recorded.actor, recorded.object_id) == (
        "record",
        w.teacher,
        first.evidence.id,
    )
    assert recorded.before is None and recorded.after["score"] == "2"
    assert (replaced.action, replaced.actor, replaced.object_id) == (
        "replace",
        w.teacher,
        second.evidence.id,
    )
    assert replaced.before == {
        "score": "2",
        "status": "scored",
        "assessed_on": w.assessment.assessed_on.isoformat(),
        "feedback": "",
        "assessment": w.assessment.id,
    }
    assert replaced.after == {
        **replaced.before,
        "score": "3",
        "assessed_on": day.isoformat(),
        "feedback": "Much better.",
    }
    assert (replaced.student_id, replaced.target_id) == (w.student.id, w.targets[0].id)
    assert "2 → 3" in replaced.summary and "date and feedback changed" in replaced.summary
    assert {k for k, _, _ in replaced.changes} == {"score", "assessed_on", "feedback"}


def test_voiding_records_the_reason_and_who_voided(world_a):
    w = world_a
    evidence = make_evidence(w, w.student, score="2").evidence
    with scope(school=w.school):
        evidence_void(
            school=w.school, evidence_id=evidence.id, voided_by=w.admin, reason="Wrong student"
        )
    voided = events(w, Type.EVIDENCE)[-1]
    assert (voided.action, voided.actor, voided.object_id) == ("void", w.admin, evidence.id)
    assert voided.before["score"] == "2" and voided.after is None
    assert "Wrong student" in voided.summary


def test_the_grid_records_entries_clears_and_undos_as_such(world_a):
    w = world_a
    enter(w, "3")
    cleared = enter(w, "")
    with scope(school=w.school):
        evidence_undo(school=w.school, undone_by=w.teacher, undo=cleared.undo)
    entered, clear, undone = events(w, Type.EVIDENCE)
    assert [e.action for e in (entered, clear, undone)] == ["record", "clear", "undo"]
    assert {e.source for e in (entered, clear, undone)} == {"grid"}
    assert clear.before["score"] == "3" and clear.after is None
    assert undone.before is None and undone.after["score"] == "3"


def test_a_fill_records_every_cell_it_fills_and_its_undo_every_cell_it_empties(world_a):
    w = world_a
    make_evidence(w, w.student, score="2")  # one cell taken: not filled
    with scope(school=w.school):
        undo = evidence_fill(
            school=w.school,
            filled_by=w.teacher,
            section=w.section,
            assessment=w.assessment,
            text="M",
        )
    filled = events(w, Type.EVIDENCE, action="fill")
    assert len(filled) == 3 * 2 - 1  # three students, two aligned targets, one cell taken
    assert all(e.after["status"] == "missing" and e.actor == w.teacher for e in filled)
    with scope(school=w.school):
        evidence_undo(school=w.school, undone_by=w.teacher, undo=undo)
    undone = events(w, Type.EVIDENCE, action="undo")
    assert sorted(e.object_id for e in undone) == sorted(e.object_id for e in filled)
    assert all(e.before["status"] == "missing" and e.after is None for e in undone)


@pytest.mark.parametrize(
    "change",
    [
        {"score": "7"},
        {"score": "2.25"},
        {"score": "", "status": "scored"},
        {"score": "3", "assessed_on": date(1999, 1, 1)},
    ],
)
def test_a_refused_change_writes_no_event(world_a, change):
    w = world_a
    before = len(events(w))
    with pytest.raises(EvidenceError):
        make_evidence(w, w.student, **change)
    assert len(events(w)) == before


def test_the_score_post_writes_exactly_one_event(client, world_a):
    w = world_a
    client.force_login(w.teacher)
    url = reverse(
        "gradebook:score_cell",
        kwargs={
            "school_slug": "alpha",
            "section_id": w.section.id,
            "assessment_id": w.assessment.id,
        },
    )
    before = len(events(w))
    response = client.post(url, {f"c-{w.student.id}-{w.targets[0].id}": "3"}, **HTMX)
    assert response.status_code == 200
    (new,) = events(w)[before:]
    assert (new.action, new.actor, new.source, new.after["score"]) == (
        "record",
        w.teacher,
        "grid",
        "3",
    )


def test_a_score_through_the_api_is_recorded_as_coming_from_the_api(world_a, in_school):

    w = world_a
    with in_school(w):
        _, raw = api_token_create(school=w.school, user=w.teacher, name="sis")
    response = Client(HTTP_AUTHORIZATION=f"Bearer {raw}").post(
        f"/api/v1/schools/{w.school.slug}/evidence/",
        {
            "student": w.student.id,
            "target": w.targets[0].id,
            "assessment": w.assessment.id,
            "score": 3,
        },
        content_type="application/json",
    )
    assert response.status_code == 201, response.content
    (recorded,) = events(w, Type.EVIDENCE)
    assert (recorded.action, recorded.actor, recorded.source) == ("record", w.teacher, "api")


def test_an_assessment_edit_that_moves_its_evidence_is_recorded_per_row(world_a):

    w = world_a
    make_evidence(w, w.student, score="3")
    moved_to = w.assessment.assessed_on - timedelta(days=1)
    with scope(school=w.school):
        assessment_save(
            school=w.school,
            saved_by=w.teacher,
            assessment=w.assessment,
            title=w.assessment.title,
            kind="formative",
            assessed_on=moved_to,
            course=w.course,
            target_ids=[t.id for t in w.targets[:2]],
        )
    (edited,) = events(w, Type.EVIDENCE, action="update")
    assert edited.before["kind"] == "summative" and edited.after["kind"] == "formative"
    assert edited.after["assessed_on"] == moved_to.isoformat()


# --- Grading policy, scale, targets ----------------------------------------------------------------


def test_a_policy_change_records_the_versions_before_and_after(world_a):
    w = world_a
    with scope(school=w.school):
        policy_change(school=w.school, changed_by=w.admin, weight=80, note="Less history")
    changed = events(w, Type.POLICY)[-1]
    assert (changed.action, changed.actor) == ("update", w.admin)
    assert changed.before["version"] == 1 and changed.after["version"] == 2
    assert (changed.before["weight"], changed.after["weight"]) == ("65", "80")
    assert {k for k, _, _ in changed.changes} == {"version", "weight"}
    assert "Less history" in changed.summary


def test_a_course_override_and_its_removal_are_recorded(world_a):
    w = world_a
    with scope(school=w.school):
        policy_change(school=w.school, changed_by=w.admin, course=w.course, method="highest")
        policy_remove_override(school=w.school, course=w.course, changed_by=w.admin)
    made, removed = events(w, Type.POLICY)[-2:]
    assert (made.before["method"], made.after["method"]) == ("decaying_average", "highest")
    assert (removed.action, removed.actor) == ("delete", w.admin)
    assert (removed.before["method"], removed.after["method"]) == ("highest", "decaying_average")
    assert "ALG1" in removed.summary


def test_a_new_school_records_its_default_scale_and_policy(world_a):
    provisioned = events(world_a)[:3]
    assert [(e.object_type, e.action, e.actor) for e in provisioned] == [
        ("scale", "create", None),
        ("scale", "create", None),
        ("policy", "create", None),
    ]
    assert provisioned[0].after["level 3"].startswith("Proficient / Competente, cut-off 3")


def test_changing_the_scale_in_the_admin_records_labels_cutoffs_and_half_points(
    client, world_a, in_school
):
    w = world_a
    with in_school(w):
        scale = ProficiencyScale.objects.get(school=w.school, kind="achievement")
    url = reverse("admin:mastery_proficiencyscale_change", args=[scale.pk])
    client.force_login(w.admin)
    data = admin_form_data(client.get(url))
    data.pop("allows_half_points")
    level_4 = next(k for k, v in data.items() if k.endswith("-label") and v == "Advanced")
    data[level_4] = "Exceeds"
    data[level_4.replace("-label", "-cutoff")] = "3.75"
    response = client.post(url, data)
    assert response.status_code == 302, response.context and response.context["errors"]

    changed = events(w, Type.SCALE)[-1]
    assert (changed.action, changed.actor, changed.source) == ("update", w.admin, "admin")
    assert {k: (b, a) for k, b, a in changed.changes} == {
        "half points": (True, False),
        "level 4": (
            "Advanced / Avanzado, cut-off 3.5, #8fc1e8",
            "Exceeds / Avanzado, cut-off 3.75, #8fc1e8",
        ),
    }
    client.post(url, admin_form_data(client.get(url)))  # saved unchanged: nothing recorded
    assert events(w, Type.SCALE)[-1] == changed


def test_saving_a_target_records_code_statement_and_descriptors_before_and_after(world_a):
    w = world_a
    with scope(school=w.school):
        target = target_save(
            school=w.school,
            department=w.department,
            competency=w.competency,
            code="ALPHA.F9",
            statement="I can model growth.",
            descriptors={3: "I can model it."},
            saved_by=w.teacher,
        )
        target_save(
            school=w.school,
            department=w.department,
            target=target,
            competency=w.competency,
            code="ALPHA.F9",
            statement="I can model exponential growth.",
            descriptors={3: "", 4: "I can compare models."},
            saved_by=w.admin,
        )
    made, edited = events(w, Type.TARGET)
    assert (made.action, made.actor, made.target_id) == ("create", w.teacher, target.id)
    assert made.after["descriptor 3"] == "I can model it."
    assert (edited.action, edited.actor) == ("update", w.admin)
    assert {k: (b, a) for k, b, a in edited.changes} == {
        "statement": ("I can model growth.", "I can model exponential growth."),
        "descriptor 3": ("I can model it.", None),
        "descriptor 4": (None, "I can compare models."),
    }


def test_moving_and_importing_targets_are_recorded(world_a):
    w = world_a
    with scope(school=w.school):
        target_move(school=w.school, target=w.targets[1], direction="up", moved_by=w.teacher)
        report = targets_import_csv(
            school=w.school,
            department=w.department,
            data=(
                "competency,target code,statement,standard code,"
                "descriptor 1,descriptor 2,descriptor 3,descriptor 4\n"
                f"Functions,{w.targets[0].code},I can do thing one better.,,,,,\n"
                "Functions,ALPHA.NEW,I can do a new thing.,,,,,\n"
            ).encode(),
            imported_by=w.admin,
        )
    assert report.ok, report.errors
    moved, *imported = events(w, Type.TARGET)
    assert (moved.action, moved.actor, moved.before, moved.after) == (
        "move",
        w.teacher,
        {"position": 1},
        {"position": 0},
    )
    assert [(e.action, e.actor, e.source) for e in imported] == [
        ("update", w.admin, "import"),
        ("create", w.admin, "import"),
    ]
    assert imported[0].after["statement"] == "I can do thing one better."


# --- Roster placements -----------------------------------------------------------------------------


def test_a_roster_build_records_each_student_whose_placements_changed(world_a, in_school):
    w = world_a
    make_evidence(w, score="2")  # students[1] below mastery on targets[0]
    cycle = make_intervention(w)
    (built,) = events(w, Type.ROSTER)
    assert (built.action, built.actor, built.source) == ("build", None, "roster build")
    assert built.student_id == w.students[1].id and built.before is None
    with in_school(w):
        days = set(RosterEntry.objects.filter(school=w.school).values_list("weekday", flat=True))
    assert len(built.after) == len(days) >= 1
    assert built.after["Wednesday"].startswith(f"{w.targets[0].code} re-teach with ")

    with scope(school=w.school):
        roster_rebuild(school=w.school, cycle=cycle)
    assert len(events(w, Type.ROSTER)) == 1  # an unchanged rebuild records nothing


def test_a_rebuild_from_the_page_names_the_counselor(client, world_a):
    w = world_a
    make_evidence(w, score="2")
    cycle = make_intervention(w)
    make_evidence(w, w.students[2], score="1")  # a second student now needs re-teaching
    client.force_login(w.counselor)
    url = reverse("intervention:cycle_rebuild", args=["alpha", cycle.id])
    assert client.post(url).status_code == 302
    rebuilt = events(w, Type.ROSTER)[1:]
    assert {(e.action, e.actor, e.student_id) for e in rebuilt} >= {
        ("build", w.counselor, w.students[2].id)
    }


def test_moving_a_student_by_hand_and_closing_the_cycle_are_recorded(world_a, in_school):
    w = world_a
    make_evidence(w, score="2")
    cycle = make_intervention(w)
    with in_school(w):
        entry = RosterEntry.objects.get(school=w.school, cycle=cycle, weekday=2)
    with scope(school=w.school):
        entry_move(school=w.school, entry_id=entry.id, group_id=None, moved_by=w.counselor)
        cycle_close(school=w.school, cycle=cycle)
    moved = events(w, Type.ROSTER, action="move")[0]
    assert (moved.actor, moved.object_id, moved.student_id) == (
        w.counselor,
        entry.id,
        w.students[1].id,
    )
    assert moved.before["locked"] is False and moved.after == {
        "group": "the wait list",
        "kind": "reteach",
        "locked": True,
    }
    closed = events(w, Type.ROSTER, action="close")
    with in_school(w):
        assert {e.object_id for e in closed} == set(
            RosterEntry.objects.filter(school=w.school, cycle=cycle).values_list("id", flat=True)
        )
    assert {(e.before["outcome"], e.after["outcome"]) for e in closed} == {
        ("pending", "continuing")
    }


def test_saving_a_competency_records_it_and_an_unchanged_save_records_nothing(client, world_a):
    w = world_a
    with scope(school=w.school):
        made = competency_save(
            school=w.school,
            department=w.department,
            code="ALPHA-M",
            name="Modelling",
            saved_by=w.admin,
        )
        competency_save(
            school=w.school,
            department=w.department,
            competency=made,
            code="ALPHA-M",
            name="Modelling",
            saved_by=w.admin,
        )
    client.force_login(w.admin)
    url = reverse(
        "gradebook:competency_edit",
        kwargs={
            "school_slug": w.school.slug,
            "department_id": w.department.id,
            "competency_id": made.id,
        },
    )
    response = client.post(
        url, {"code": "ALPHA-M", "name": "Modelling with functions", "kind": "content"}
    )
    assert response.status_code == 302, response.content.decode()[:500]
    created, edited = events(w, Type.COMPETENCY)
    assert (created.action, created.actor, created.object_id) == ("create", w.admin, made.id)
    assert created.after == {
        "code": "ALPHA-M",
        "name": "Modelling",
        "kind": "content",
        "description": "",
    }
    assert (edited.action, edited.actor) == ("update", w.admin)
    assert {k: (b, a) for k, b, a in edited.changes} == {
        "name": ("Modelling", "Modelling with functions")
    }


def test_intervention_attendance_is_recorded_and_a_resent_sheet_records_nothing(client, world_a):
    w = world_a
    make_evidence(w, score="2")
    cycle = make_intervention(w)
    with scopes_disabled():
        entry = RosterEntry.objects.select_related("group").get(
            school=w.school, cycle=cycle, weekday=2
        )
    session = cycle.session_dates(2)[0]
    url = reverse("intervention:attendance", args=[w.school.slug, entry.group_id])
    client.force_login(entry.group.teacher)
    for status in ("absent", "absent", "excused"):  # the second post sends the sheet unchanged
        response = client.post(url, {"date": session.isoformat(), f"a-{entry.id}": status})
        assert response.status_code == 302
    taken, corrected = events(w, Type.ATTENDANCE)
    assert (taken.action, taken.actor, taken.student_id) == (
        "record",
        entry.group.teacher,
        entry.student_id,
    )
    assert taken.before is None
    assert taken.after == {"date": session.isoformat(), "status": "absent"}
    assert (corrected.action, corrected.source) == ("replace", "intervention")
    assert {k: (b, a) for k, b, a in corrected.changes} == {"status": ("absent", "excused")}


def test_every_records_export_is_recorded_and_listed_in_the_next_one(client, world_a, tmp_path):
    w = world_a
    client.force_login(w.admin)
    url = reverse("reports:student_records", args=[w.school.slug, w.student.id])
    assert client.get(url).status_code == 200
    call_command(
        "export_student_records",
        school=w.school.slug,
        student=w.student.local_id,
        out=str(tmp_path / "records.json"),
        stdout=io.StringIO(),
    )
    by_page, by_command = events(w, Type.RECORDS)
    assert (by_page.action, by_page.actor, by_page.source) == ("export", w.admin, "web")
    assert by_page.student_id == w.student.id
    assert set(by_page.after) == {"enrollments", "evidence", "mastery"}
    assert (by_command.actor, by_command.source) == (None, "command line")
    again = json.loads(client.get(url).content)
    assert [(e["action"], e["by"]) for e in again["change_history"]][-2:] == [
        ("export", w.admin.full_name),
        ("export", None),
    ]


# --- Memberships -----------------------------------------------------------------------------------


def test_memberships_given_and_taken_in_the_admin_are_recorded(client, world_a, in_school):
    w = world_a
    newcomer = make_user("newcomer@alpha.test", "Nia Newcomer")
    client.force_login(w.admin)
    response = client.post(
        reverse("admin:mastery_membership_add"),
        {"school": w.school.id, "user": newcomer.id, "role": Role.TEACHER},
    )
    assert response.status_code == 302
    with in_school(w):
        membership = Membership.objects.get(school=w.school, user=newcomer)
    response = client.post(
        reverse("admin:mastery_membership_delete", args=[membership.id]), {"post": "yes"}
    )
    assert response.status_code == 302
    given, taken = events(w, Type.MEMBERSHIP)
    assert (given.action, given.actor, given.source, given.object_id) == (
        "create",
        w.admin,
        "admin",
        membership.id,
    )
    state = {"user": "newcomer@alpha.test", "name": "Nia Newcomer", "role": "teacher"}
    assert (given.before, given.after) == (None, state)
    assert (taken.action, taken.before, taken.after) == ("delete", state, None)


def test_memberships_changed_on_the_schools_admin_page_are_recorded(client, world_a):
    w = world_a
    newcomer = make_user("inline@alpha.test", "Ines Inline")
    url = reverse("admin:mastery_school_change", args=[w.school.pk])
    client.force_login(w.admin)
    data = admin_form_data(client.get(url))
    prefix = next(k for k in data if k.endswith("-TOTAL_FORMS")).removesuffix("-TOTAL_FORMS")
    total = int(data[f"{prefix}-TOTAL_FORMS"])
    counselor_form = next(
        k.removesuffix("-role") for k, v in data.items() if k.endswith("-role") and v == "counselor"
    )
    data[f"{counselor_form}-role"] = Role.TEACHER  # Cora becomes a teacher
    data.update(
        {
            f"{prefix}-TOTAL_FORMS": total + 1,
            f"{prefix}-{total}-user": newcomer.id,
            f"{prefix}-{total}-role": Role.COUNSELOR,
        }
    )
    response = client.post(url, data)
    assert response.status_code == 302, response.context and response.context["errors"]
    changed = {(e.action, e.actor, e.source) for e in events(w, Type.MEMBERSHIP)}
    assert changed == {("create", w.admin, "admin"), ("update", w.admin, "admin")}
    (role_change,) = events(w, Type.MEMBERSHIP, action="update")
    assert (role_change.before["role"], role_change.after["role"]) == ("counselor", "teacher")


def test_accepting_an_invitation_records_the_guardians_membership(world_a):
    w = world_a
    with scope(school=w.school):
        invitation, _, _ = invitation_create(
            school=w.school,
            created_by=w.admin,
            email="new.parent@example.test",
            full_name="Pat Parent",
            language="es",
            students=[w.student],
        )
    parent = invitation_accept(
        invitation=invitation, full_name="Pat Parent", password="a-long-passphrase", language="es"
    )
    (given,) = events(w, Type.MEMBERSHIP)
    assert (given.action, given.actor, given.source) == ("create", parent, "invitation")
    assert given.after["role"] == "guardian"


def test_the_oneroster_import_records_memberships_given_and_taken(db):
    with scopes_disabled():
        base = oneroster_import(
            files=read_path(ONEROSTER / "base"), school=None, today=date(2026, 11, 20)
        )
        assert base.ok, base.errors
        given = list(AuditEvent.objects.filter(object_type=Type.MEMBERSHIP, action="create"))
        assert len(given) == base.tallies["memberships"].created == 13
        assert {(e.actor_id, e.source) for e in given} == {(None, "oneroster")}
        later = oneroster_import(
            files=read_path(ONEROSTER / "tobedeleted"), school=None, today=date(2026, 11, 20)
        )
        assert later.ok, later.errors
        (taken,) = AuditEvent.objects.filter(object_type=Type.MEMBERSHIP, action="delete")
    assert taken.before["role"] == "guardian" and taken.after is None
