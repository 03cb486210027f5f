"""The posting grid as teachers, counselors, admins and outsiders use it (issue [14] items 2-3, 5)."""

from __future__ import annotations

import html
import re
from datetime import timedelta

import pytest
from django.db import connection
from django.test.utils import CaptureQueriesContext
from django.urls import reverse
from django_scopes import scope, scopes_disabled

from gradebook.models import GradingPeriod
from marks.computing import COURSE, TARGET
from marks.models import CommentBankEntry, PostedMark
from marks.services import grade_form_set
from tests.factories import make_evidence, make_student
from tests.gradebook.pages import page
from tests.marks.test_key import TODAY, computed, in_q1, periods


def url(w, section=None, period=None, name="marks:post"):
    address = reverse(name, args=[w.school.slug, (section or w.section).id])
    return address + (f"?period={period.id}" if period else "")


def form_of(w, period, **changes):
    """The grid's form as the browser sends it: every mark as shown, the computed values seen."""
    data = {"period": str(period.id)}
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


INPUT = re.compile(r'<input(?=[^>]*\bname="([^"]+)")(?:(?=[^>]*\bvalue="([^"]*)"))?[^>]*>')


def as_the_browser_sends(client, address, **changes):
    """Every input of the posting grid as the page shows it (what a browser would send)."""
    text = client.get(address).content.decode()
    form = text[text.index("data-posting") :]
    data = {name: html.unescape(value or "") for name, value in INPUT.findall(form)}
    data.pop("csrfmiddlewaretoken", None)
    data.update(changes)
    return data


def test_posting_the_page_again_as_shown_keeps_every_comment_in_every_language(client, world_a):
    w = world_a
    q1, _ = periods(w)
    with scopes_disabled():
        CommentBankEntry.objects.create(
            school=w.school,
            code="G1",
            texts={"en": "{first_name} grows.", "es": "{first_name} crece."},
        )
    client.force_login(w.teacher)
    student = w.students[1]
    first = as_the_browser_sends(client, url(w, period=q1), **{f"comment-{student.id}": "G1"})
    assert client.post(url(w, period=q1), first).status_code == 302
    count = len(posted())
    # The page now shows the comment in English, its name filled in; sent back as it is shown
    # (say the teacher fixes another mark and posts the page again): the same comment.
    again = as_the_browser_sends(client, url(w, period=q1))
    assert again[f"comment-{student.id}"] == f"{student.first_name} grows."
    assert client.post(url(w, period=q1), again).status_code == 302
    assert len(posted()) == count
    with scopes_disabled():
        mark = PostedMark.objects.filter(student=student, kind=COURSE).current().get()
    assert mark.version == 1 and mark.comment["es"] == f"{student.first_name} crece."


def test_a_post_names_the_period_its_page_showed(client, world_a):
    w = world_a
    q1, _ = periods(w)
    client.force_login(w.teacher)
    data = as_the_browser_sends(client, url(w, period=q1))
    assert data["period"] == str(q1.id)
    # Without the period the post is refused, whatever period is open today.
    data.pop("period")
    assert (
        client.post(reverse("marks:post", args=[w.school.slug, w.section.id]), data).status_code
        == 400
    )
    assert posted() == []


@pytest.mark.parametrize(
    "field_value",
    [
        ("m-{s}-target-{t}", "1e26"),
        ("m-{s}-target-{t}", "NaN"),
        ("reason-{s}", "oral\x00exam"),
        ("comment-{s}", "x\x00y"),
        ("comment-{s}", "x" * 5000),
    ],
)
def test_bad_values_are_refused_with_a_message_never_a_500(client, world_a, field_value):
    w = world_a
    q1, _ = periods(w)
    client.force_login(w.teacher)
    name, value = field_value
    name = name.format(s=w.students[1].id, t=w.targets[0].id)
    data = as_the_browser_sends(client, url(w, period=q1), **{name: value})
    if name.startswith("reason"):
        data[f"m-{w.students[1].id}-target-{w.targets[0].id}"] = "4"  # a change needing it
    answer = client.post(url(w, period=q1), data)
    assert answer.status_code == 422 and "Nothing was posted" in answer.content.decode()
    assert posted() == []


def test_one_mark_sent_twice_under_two_spellings_is_refused_not_a_500(client, world_a):
    w = world_a
    q1, _ = periods(w)
    client.force_login(w.teacher)
    s, t = w.students[1].id, w.targets[0].id
    data = as_the_browser_sends(client, url(w, period=q1))
    shown = data[f"m-{s}-target-{t}"]
    data[f"m-{s}-target-0{t}"] = shown  # not how an id is written: not a mark's field
    data[f"m-{s}-target-{t}\n"] = shown
    data[f"m-{s:03d}-target-{t}"] = shown
    answer = client.post(url(w, period=q1), data)
    assert answer.status_code == 302
    with scopes_disabled():
        assert PostedMark.objects.filter(student_id=s, target_id=t).count() == 1


def test_a_mark_a_colleague_posted_meanwhile_is_not_overwritten(client, world_a):
    w = world_a
    q1, _ = periods(w)
    make_evidence(w, w.students[1], w.targets[0], "3", assessment=in_q1(w))
    s, t = w.students[1], w.targets[0]
    client.force_login(w.teacher)
    stale = as_the_browser_sends(client, url(w, period=q1))  # the page as opened
    # A co-teacher (here the admin) posts an override of 4 first.
    client.force_login(w.admin)
    client.post(
        url(w, period=q1),
        as_the_browser_sends(
            client, url(w, period=q1), **{field(s, t): "4", f"reason-{s.id}": "Oral defence"}
        ),
    )
    client.force_login(w.teacher)
    # The stale page still shows 3; the teacher adds a reason for another change in that row.
    stale[f"reason-{s.id}"] = "Late work counted"
    stale[f"m-{s.id}-target-{w.targets[1].id}"] = "2"
    answer = client.post(url(w, period=q1), stale)
    assert answer.status_code == 422 and "posted this mark meanwhile" in answer.content.decode()
    with scopes_disabled():
        mark = PostedMark.objects.filter(student=s, target=t).current().get()
    assert (mark.value, mark.version) == ("4", 1)


def test_a_change_of_the_grade_form_never_blocks_posting_the_rest(client, world_a):
    w = world_a
    q1, _ = periods(w)
    make_evidence(w, w.students[1], w.targets[0], "3", assessment=in_q1(w))
    client.force_login(w.teacher)
    assert (
        client.post(url(w, period=q1), as_the_browser_sends(client, url(w, period=q1))).status_code
        == 302
    )
    with scope(school=w.school):
        grade_form_set(school=w.school, form="percent", by=w.admin)
    newcomer = make_student(w.school, "late-1", sections=[w.section], enrolled_on=w.term.starts_on)
    answer = client.post(url(w, period=q1), as_the_browser_sends(client, url(w, period=q1)))
    assert answer.status_code == 302
    with scopes_disabled():
        letter = PostedMark.objects.get(student=w.students[1], kind=COURSE)
        percent = PostedMark.objects.get(student=newcomer, kind=COURSE)
    assert (letter.grade_form, letter.version) == ("letter", 1)
    assert percent.grade_form == "percent"


def test_each_students_picker_offers_the_comments_for_their_levels_first(client, world_a):
    w = world_a
    q1, _ = periods(w)
    quiz = in_q1(w)
    make_evidence(w, w.students[1], w.targets[0], "2", assessment=quiz)
    make_evidence(w, w.students[2], w.targets[0], "4", assessment=quiz)
    with scopes_disabled():
        for code, level, text in (
            ("T2", 2, "Keep practising the first skill."),
            ("T4", 4, "Mastered the first skill."),
        ):
            CommentBankEntry.objects.create(
                school=w.school, code=code, target=w.targets[0], level=level, texts={"en": text}
            )
        CommentBankEntry.objects.create(school=w.school, code="G1", texts={"en": "Works steadily."})
    client.force_login(w.teacher)
    text = client.get(url(w, period=q1)).content.decode()

    def picker(student):
        block = text[text.index(f'<datalist id="bank-{student.id}">') :]
        return re.findall(r'<option value="([^"]+)"', block[: block.index("</datalist>")])

    assert picker(w.students[1]) == ["T2: Keep practising the first skill.", "G1: Works steadily."]
    assert picker(w.students[2]) == ["T4: Mastered the first skill.", "G1: Works steadily."]
    assert picker(w.students[0]) == ["G1: Works steadily."]
