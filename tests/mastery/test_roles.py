"""Role rules inside one school: who sees which section, student and page."""

from __future__ import annotations

import pytest
from django.urls import reverse

from gradebook.permissions import can_score_section, visible_sections, visible_students
from mastery.tenancy import school_access


def section_url(w, section):
    return reverse(
        "gradebook:section_detail", kwargs={"school_slug": w.school.slug, "section_id": section.id}
    )


def student_url(w, student):
    return reverse(
        "gradebook:student_detail", kwargs={"school_slug": w.school.slug, "student_id": student.id}
    )


def test_a_teacher_sees_their_own_section_and_not_a_colleagues(client, world_a):
    client.force_login(world_a.teacher)
    assert client.get(section_url(world_a, world_a.section)).status_code == 200
    assert client.get(section_url(world_a, world_a.other_section)).status_code == 404


def test_a_teacher_sees_their_students_and_not_others(client, world_a):
    client.force_login(world_a.teacher)
    assert client.get(student_url(world_a, world_a.student)).status_code == 200
    assert client.get(student_url(world_a, world_a.other_students[0])).status_code == 404


@pytest.mark.parametrize("member", ["admin", "counselor"])
def test_admins_and_counselors_see_every_section_and_student(client, world_a, member):
    client.force_login(getattr(world_a, member))
    for section in (world_a.section, world_a.other_section):
        assert client.get(section_url(world_a, section)).status_code == 200
    for student in (*world_a.students, *world_a.other_students):
        assert client.get(student_url(world_a, student)).status_code == 200


def test_a_guardian_sees_only_their_own_child_and_no_section(client, world_a):
    client.force_login(world_a.guardian)
    assert client.get(student_url(world_a, world_a.student)).status_code == 200
    assert client.get(student_url(world_a, world_a.students[1])).status_code == 404
    assert client.get(section_url(world_a, world_a.section)).status_code == 404


def test_a_student_sees_only_themselves(client, world_a):
    client.force_login(world_a.student_user)
    assert client.get(student_url(world_a, world_a.student)).status_code == 200
    assert client.get(student_url(world_a, world_a.students[1])).status_code == 404
    assert client.get(section_url(world_a, world_a.section)).status_code == 404


@pytest.mark.parametrize("member", ["admin", "teacher", "counselor", "guardian", "student_user"])
def test_every_member_can_read_the_learning_targets(client, world_a, member):
    client.force_login(getattr(world_a, member))
    slug = world_a.school.slug
    assert (
        client.get(reverse("gradebook:target_list", kwargs={"school_slug": slug})).status_code
        == 200
    )
    detail = client.get(
        reverse(
            "gradebook:target_detail",
            kwargs={"school_slug": slug, "target_id": world_a.targets[0].id},
        )
    )
    assert detail.status_code == 200
    assert b"Level 3 of 1" in detail.content  # the rubric row for level 3


def test_only_the_sections_teacher_or_an_admin_may_score_it(world_a, in_school):
    def access(user):
        return school_access(user, world_a.school.slug)

    with in_school(world_a):
        assert can_score_section(access(world_a.teacher), world_a.teacher, world_a.section)
        assert not can_score_section(
            access(world_a.teacher), world_a.teacher, world_a.other_section
        )
        assert can_score_section(access(world_a.admin), world_a.admin, world_a.other_section)
        assert not can_score_section(access(world_a.counselor), world_a.counselor, world_a.section)
        assert not can_score_section(access(world_a.guardian), world_a.guardian, world_a.section)


def test_visibility_never_crosses_schools(world_a, world_b, in_school):
    with in_school(world_a):
        access = school_access(world_a.admin, world_a.school.slug)
        assert world_b.student.id not in set(
            visible_students(access, world_a.admin).values_list("id", flat=True)
        )
        assert world_b.section.id not in set(
            visible_sections(access, world_a.admin).values_list("id", flat=True)
        )


def test_the_school_home_shows_each_role_its_own_things(client, world_a):
    home = reverse("school_home", kwargs={"school_slug": world_a.school.slug})
    client.force_login(world_a.teacher)
    page = client.get(home).content.decode()
    assert "My sections" in page and "Period 1" in page and "Period 2" not in page
    client.force_login(world_a.guardian)
    page = client.get(home).content.decode()
    assert "Your children" in page and world_a.student.display_name in page
    assert world_a.students[1].display_name not in page
    client.force_login(world_a.admin)
    page = client.get(home).content.decode()
    assert "All sections" in page and "Period 2" in page
