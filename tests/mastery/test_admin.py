"""The Django admin is scoped to the schools the user administers."""

from __future__ import annotations

import pytest
from django.urls import reverse
from django_scopes import scopes_disabled

from gradebook.models import Course, Evidence, Section, Student
from mastery.models import GradingPolicy, LearningTarget, Membership, ScaleLevel, School
from tests.factories import make_user


def changelist(model):
    return reverse(f"admin:{model._meta.app_label}_{model._meta.model_name}_changelist")


def change(obj):
    return reverse(f"admin:{obj._meta.app_label}_{obj._meta.model_name}_change", args=[obj.pk])


def test_only_school_admins_and_superusers_enter_the_admin(client, world_a):
    for user in (world_a.teacher, world_a.guardian, world_a.counselor):
        client.force_login(user)
        assert client.get(reverse("admin:index")).status_code == 302  # back to the admin login
    client.force_login(world_a.admin)
    assert client.get(reverse("admin:index")).status_code == 200


@pytest.mark.parametrize("model", [Student, Section, Course, LearningTarget, Membership, School])
def test_a_school_admin_lists_only_their_schools_rows(client, world_a, world_b, model):
    client.force_login(world_a.admin)
    response = client.get(changelist(model))
    assert response.status_code == 200
    shown = {obj.pk for obj in response.context["cl"].result_list}
    with scopes_disabled():
        if model is School:
            assert shown == {world_a.school.pk}
        else:
            assert shown == set(
                model.objects.filter(school=world_a.school).values_list("pk", flat=True)
            )
            assert not shown & set(
                model.objects.filter(school=world_b.school).values_list("pk", flat=True)
            )


def test_a_school_admin_cannot_open_another_schools_object(client, world_a, world_b):
    client.force_login(world_a.admin)
    for obj in (world_b.student, world_b.section, world_b.school):
        response = client.get(change(obj))
        assert response.status_code == 302  # the admin's "does not exist" redirect to its index
    assert client.get(change(world_a.student)).status_code == 200


def test_foreign_key_choices_offer_only_the_admins_schools(client, world_a, world_b):
    client.force_login(world_a.admin)
    response = client.get(reverse("admin:gradebook_section_add"))
    form = response.context["adminform"].form
    assert set(form.fields["school"].queryset) == {world_a.school}
    assert set(form.fields["course"].queryset) == {world_a.course}


def test_a_school_admin_cannot_save_a_row_into_another_school(client, world_a, world_b):
    client.force_login(world_a.admin)
    response = client.post(
        reverse("admin:mastery_department_add"),
        {"school": world_b.school.pk, "name": "Art", "code": "ART"},
    )
    assert response.status_code == 200  # the form is shown again with an error
    assert "school" in response.context["adminform"].form.errors
    with scopes_disabled():
        assert not world_b.department.__class__.objects.filter(
            school=world_b.school, name="Art"
        ).exists()


def test_evidence_is_read_only_in_the_admin(client, world_a):
    client.force_login(world_a.admin)
    assert client.get(changelist(Evidence)).status_code == 200
    assert client.get(reverse("admin:gradebook_evidence_add")).status_code == 403


def test_the_district_table_is_for_superusers_only(client, world_a):
    client.force_login(world_a.admin)
    assert client.get(reverse("admin:mastery_district_changelist")).status_code == 403
    root = make_user("root@example.test", "Root", is_superuser=True, is_staff=True)
    client.force_login(root)
    assert client.get(reverse("admin:mastery_district_changelist")).status_code == 200
    response = client.get(changelist(Student))
    assert response.status_code == 200


def test_a_new_school_made_in_the_admin_gets_a_scale_and_a_policy(client, db):
    root = make_user("root@example.test", "Root", is_superuser=True, is_staff=True)
    client.force_login(root)
    response = client.post(
        reverse("admin:mastery_school_add"),
        {
            "name": "Lakeside Middle",
            "slug": "lakeside",
            "timezone": "America/Chicago",
            "default_language": "en",
            "mastery_membership_set-TOTAL_FORMS": "0",
            "mastery_membership_set-INITIAL_FORMS": "0",
        },
    )
    assert response.status_code == 302, response.content.decode()[:2000]
    with scopes_disabled():
        school = School.objects.get(slug="lakeside")
        assert GradingPolicy.objects.filter(school=school, is_current=True).count() == 1
        assert ScaleLevel.objects.filter(school=school, scale__kind="achievement").count() == 4
