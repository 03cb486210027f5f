"""The posting grid as teachers, counselors, admins and outsiders use it (issue [14] items 2-3, 5)."""

from __future__ import annotations

from datetime import timedelta

import pytest
from django.db import connection
from django.test.utils import CaptureQueriesContext
from django.urls import reverse
from django_scopes import scopes_disabled

from gradebook.models import GradingPeriod
from marks.computing import COURSE, TARGET
from marks.models import CommentBankEntry, PostedMark
from tests.factories import make_evidence, make_student
from tests.gradebook.pages import page
from tests.marks.test_key import TODAY, computed, in_q1, periods


def url(w, section=None, period=None, name="marks:post"):
    address = reverse(name, args=[w.school.slug, (section or w.section).id])
    return address + (f"?period={period.id}" if period else "")


def form_of(w, period, **changes):
    """The grid's form as the browser sends it: every mark as shown, the computed values seen."""
    data = {}
    for (student_id, kind, subject_id), c in computed(w, w.section, period).items():
        name = f"{student_id}-{kind}-{subject_id}"
        data[f"m-{name}"] = c.value
        data[f"seen-{name}"] = c.value
    data.update(changes)
    return data


def field(student, target):
    return f"m-{student.id}-target-{target.id}"


def posted():
    with scopes_disabled():
        return list(PostedMark.objects.order_by("id"))


def test_a_teacher_reviews_the_computed_marks_and_posts_them(client, world_a):
    w = world_a
    q1, _ = periods(w)
    make_evidence(w, w.students[1], w.targets[0], "3", assessment=in_q1(w))
    client.force_login(w.teacher)
    shown = page(client.get(url(w, period=q1)))
    assert "Marks of record: Q1" in shown and "Posted marks are frozen" in shown
    assert (
        f'name="{field(w.students[1], w.targets[0])}" value="3"'
        in client.get(url(w, period=q1)).content.decode()
    )
    answer = client.post(url(w, period=q1), form_of(w, q1))
    assert answer.status_code == 302
    assert len(posted()) == len(computed(w, w.section, q1))
    after = page(client.get(answer["Location"]))
    assert "Posted" in after and "v1" in after
    # The same page posted again (Back and post, or a double click): nothing new.
    client.post(url(w, period=q1), form_of(w, q1))
    assert len(posted()) == len(computed(w, w.section, q1))


def test_an_override_without_a_reason_keeps_what_was_typed_and_posts_nothing(client, world_a):
    w = world_a
    q1, _ = periods(w)
    make_evidence(w, w.students[1], w.targets[0], "3", assessment=in_q1(w))
    client.force_login(w.teacher)
    name = field(w.students[1], w.targets[0])
    answer = client.post(url(w, period=q1), form_of(w, q1, **{name: "4"}))
    assert answer.status_code == 422
    text = answer.content.decode()
    assert "Nothing was posted" in text and "reason is required" in text
    assert f'name="{name}" value="4"' in text  # what the teacher typed is still there
    assert posted() == []
    answer = client.post(
        url(w, period=q1),
        form_of(w, q1, **{name: "4", f"reason-{w.students[1].id}": "Oral defence"}),
    )
    assert answer.status_code == 302
    with scopes_disabled():
        mark = PostedMark.objects.get(student=w.students[1], target=w.targets[0])
        # The reason goes with the changed mark only, not the row's other marks.
        plain = PostedMark.objects.get(student=w.students[1], kind=COURSE)
    assert (mark.value, mark.computed_value, mark.reason) == ("4", "3", "Oral defence")
    assert plain.reason == ""
    shown = page(client.get(url(w, period=q1)))
    assert "✎ computed 3" in shown


def test_a_bank_comment_is_posted_in_every_language_it_has(client, world_a):
    w = world_a
    q1, _ = periods(w)
    with scopes_disabled():
        CommentBankEntry.objects.create(
            school=w.school,
            code="M3",
            texts={
                "en": "{first_name} explains their reasoning clearly.",
                "es": "{first_name} explica su razonamiento con claridad.",
            },
        )
    client.force_login(w.teacher)
    student = w.students[1]
    answer = client.post(
        url(w, period=q1),
        form_of(
            w, q1, **{f"comment-{student.id}": "M3: {first_name} explains their reasoning clearly."}
        ),
    )
    assert answer.status_code == 302
    with scopes_disabled():
        mark = PostedMark.objects.get(student=student, kind=COURSE)
    assert mark.comment == {
        "en": f"{student.first_name} explains their reasoning clearly.",
        "es": f"{student.first_name} explica su razonamiento con claridad.",
    }
    assert mark.comment_in("es").startswith(student.first_name)


def test_a_counselor_reads_the_grid_but_cannot_post(client, world_a):
    w = world_a
    q1, _ = periods(w)
    client.force_login(w.counselor)
    assert client.get(url(w, period=q1)).status_code == 200
    assert client.post(url(w, period=q1), form_of(w, q1)).status_code == 403
    assert posted() == []


@pytest.mark.parametrize("who", ["other_teacher", "guardian", "student_user"])
def test_people_who_do_not_teach_the_section_get_no_grid(client, world_a, who):
    w = world_a
    q1, _ = periods(w)
    client.force_login(getattr(w, who))
    assert client.get(url(w, period=q1)).status_code == 404
    assert client.post(url(w, period=q1), form_of(w, q1)).status_code == 404
    assert posted() == []


def test_another_school_section_or_period_answers_404(client, world_a, world_b):
    q1_a, _ = periods(world_a)
    q1_b, _ = periods(world_b)
    client.force_login(world_a.admin)
    # School B's section under school A's address, and school A's section with B's period.
    foreign = reverse("marks:post", args=[world_a.school.slug, world_b.section.id])
    assert client.get(foreign).status_code == 404
    assert client.get(url(world_a, period=q1_b)).status_code == 404
    assert client.post(url(world_a, period=q1_b), {}).status_code == 404
    history = (
        url(world_a, name="marks:history")
        + f"?period={q1_a.id}&student={world_b.students[0].id}&kind=course&subject=0"
    )
    assert client.get(history).status_code == 404


def test_after_the_window_closes_only_a_school_admin_posts(client, world_a):
    w = world_a
    q1, _ = periods(w)
    with scopes_disabled():
        GradingPeriod.objects.filter(pk=q1.pk).update(
            posting_opens_on=TODAY - timedelta(days=9), posting_closes_on=TODAY - timedelta(days=2)
        )
    client.force_login(w.teacher)
    shown = page(client.get(url(w, period=q1)))
    assert "only a school admin can post" in shown
    answer = client.post(url(w, period=q1), form_of(w, q1))
    assert answer.status_code == 422 and "closed on" in answer.content.decode()
    assert posted() == []
    client.force_login(w.admin)
    assert client.post(url(w, period=q1), form_of(w, q1)).status_code == 302
    assert posted() and all(m.outside_window for m in posted())


def test_a_mark_history_lists_every_version(client, world_a):
    w = world_a
    q1, _ = periods(w)
    make_evidence(w, w.students[1], w.targets[0], "3", assessment=in_q1(w))
    client.force_login(w.teacher)
    name = field(w.students[1], w.targets[0])
    client.post(url(w, period=q1), form_of(w, q1))
    client.post(
        url(w, period=q1),
        form_of(w, q1, **{name: "2", f"reason-{w.students[1].id}": "Plagiarised lab"}),
    )
    history = url(w, name="marks:history") + (
        f"?period={q1.id}&student={w.students[1].id}&kind=target&subject={w.targets[0].id}"
    )
    text = page(client.get(history))
    # Newest first: version 2 with its reason, then version 1.
    assert "Plagiarised lab" in text and "✎ overridden" in text
    assert text.index("Plagiarised lab") < text.rindex("Tess Teacher")
    with scopes_disabled():
        versions = PostedMark.objects.filter(student=w.students[1], target=w.targets[0])
        assert sorted(versions.values_list("version", "value")) == [(1, "3"), (2, "2")]


def test_the_grid_reads_and_posts_in_a_constant_number_of_queries(client, world_a):
    w = world_a
    q1, _ = periods(w)
    client.force_login(w.teacher)
    client.post(url(w, period=q1), form_of(w, q1))

    def count():
        with CaptureQueriesContext(connection) as seen:
            assert client.get(url(w, period=q1)).status_code == 200
        return len(seen)

    few = count()
    for i in range(8):
        make_student(w.school, f"more-{i}", sections=[w.section], enrolled_on=w.term.starts_on)
    assert count() == few
    # Posting them too: the same number of statements for 3 students as for 11.
    with CaptureQueriesContext(connection) as seen:
        assert client.post(url(w, period=q1), form_of(w, q1)).status_code == 302
    posting = len(seen)
    for i in range(8):
        make_student(w.school, f"again-{i}", sections=[w.section], enrolled_on=w.term.starts_on)
    with CaptureQueriesContext(connection) as seen:
        assert client.post(url(w, period=q1), form_of(w, q1)).status_code == 302
    assert len(seen) == posting
    assert (w.students[1].id, TARGET, w.targets[0].id) in computed(w, w.section, q1)
