"""Accounts no one else can take over (mastery.accounts, the identity rule), tried as attackers act:
a school admin's roster upload, the Django admin, a counselor's invitation, the reset form; and
the owner's own ways in: activation, reset, a new address confirmed from that address."""

from __future__ import annotations

import email
import html
import re

import pytest
from django.contrib.auth.hashers import make_password
from django.core import mail
from django.core.files.uploadedfile import SimpleUploadedFile
from django.urls import reverse
from django_scopes import scopes_disabled

from gradebook.models import Student
from mastery.models import AuditEvent, District, DistrictMembership, Membership, Role, User
from tests.factories import PASSWORD, make_user, make_world
from tests.gradebook.oneroster import package_copy, rewrite, zipped
from tests.mail import smtp_mailers, smtp_on_loopback, text_of

NEW_PASSWORD = "a-new-and-long-passphrase"
ACCOUNT = "account"  # AuditEvent.ObjectType.ACCOUNT (a literal: the test also runs on older code)


def text(response) -> str:
    return html.unescape(response.content.decode())


def upload(client, world, path):
    package = SimpleUploadedFile("roster.zip", zipped(path), "application/zip")
    url = reverse("gradebook:oneroster_import", kwargs={"school_slug": world.school.slug})
    return client.post(url, {"files": [package]})


def imported(email: str, school, role: str, name: str = "Imported Person") -> User:
    """A login as an import makes it: no usable password, waiting for its owner."""
    user = User.objects.create(email=email, full_name=name, password=make_password(None))
    with scopes_disabled():
        Membership.objects.create(school=school, user=user, role=role)
    return user


def can_log_in(client, email: str, password: str) -> bool:
    client.logout()
    response = client.post(reverse("login"), {"username": email, "password": password})
    ok = response.status_code == 302
    client.logout()
    return ok


def account_events(school, user) -> list[AuditEvent]:
    with scopes_disabled():
        return list(
            AuditEvent.objects.filter(school=school, object_type=ACCOUNT, object_id=user.pk)
        )


def links_in(message) -> list[str]:
    return re.findall(r"https?://\S+", message.body)


@pytest.fixture
def high(db):
    return make_world("lakeside-high")


@pytest.fixture
def other(db):
    return make_world("beta")


@pytest.fixture
def one_district(high, other):
    district = District.objects.create(name="Lakeside Unified", slug="lakeside-usd")
    for world in (high, other):
        world.school.district = district
        world.school.save()
    return district


# --- 1. The roster upload --------------------------------------------------------------------------


def test_an_import_cannot_take_in_another_districts_admin_and_imports_nothing(
    client, high, other, tmp_path
):
    victim = other.admin
    path = package_copy(tmp_path)
    rewrite(path / "users.csv", "priya.patel@lakeside.example", victim.email)
    client.force_login(high.admin)

    response = upload(client, high, path)

    assert response.status_code == 422
    page = text(response)
    assert f"email {victim.email} cannot be used here" in page
    assert "another district" in page and "site administrator" in page
    with scopes_disabled():
        assert not Membership.objects.filter(user=victim, school=high.school).exists()
        assert not Student.objects.filter(school=high.school, local_id="1001").exists()
    victim.refresh_from_db()
    assert victim.check_password(PASSWORD)
    assert client.get(f"/s/{other.school.slug}/").status_code == 404


def test_a_login_of_the_same_district_is_linked_but_its_owner_keeps_it(
    client, high, other, one_district, tmp_path
):
    victim = other.admin
    path = package_copy(tmp_path)
    rewrite(path / "users.csv", "priya.patel@lakeside.example", victim.email)
    client.force_login(high.admin)
    assert upload(client, high, path).status_code == 200
    with scopes_disabled():
        assert Membership.objects.filter(
            user=victim, school=high.school, role=Role.SCHOOL_ADMIN
        ).exists()

    # The importing admin now sees the person in the admin, and tries to take the account.
    password_url = reverse("admin:auth_user_password_change", args=[victim.pk])
    assert client.get(password_url).status_code == 403
    response = client.post(
        password_url,
        {"usable_password": "true", "password1": NEW_PASSWORD, "password2": NEW_PASSWORD},
    )
    assert response.status_code == 403
    change_url = reverse("admin:mastery_user_change", args=[victim.pk])
    assert client.get(change_url).status_code == 200
    client.post(
        change_url,
        {
            "email": "attacker@evil.test",
            "full_name": "Ada Admin",
            "preferred_language": "en",
            "is_active": "on",
        },
    )
    victim.refresh_from_db()
    assert victim.email == "admin@beta.test"
    assert victim.check_password(PASSWORD)
    assert not can_log_in(client, victim.email, NEW_PASSWORD)
    assert can_log_in(client, victim.email, PASSWORD)
    # The victim's own school sees who took its admin in.
    linked = [e for e in account_events(other.school, victim) if e.action == "link"]
    assert len(linked) == 1 and high.school.name in linked[0].summary


def test_an_import_never_moves_an_activated_account_to_another_address(
    client, high, tmp_path, django_capture_on_commit_callbacks
):
    path = package_copy(tmp_path)
    client.force_login(high.admin)
    with django_capture_on_commit_callbacks(execute=True):
        assert upload(client, high, path).status_code == 200
    garcia = User.objects.get(email="maria.garcia@lakeside.example")
    garcia.set_password(PASSWORD)  # she activated her account
    garcia.save()
    mail.outbox.clear()

    rewrite(path / "users.csv", "maria.garcia@lakeside.example", "maria@attacker.test")
    with django_capture_on_commit_callbacks(execute=True):
        response = upload(client, high, path)
    assert response.status_code == 200
    assert "keeps its address until the person confirms maria@attacker.test" in text(response)
    garcia.refresh_from_db()
    assert garcia.email == "maria.garcia@lakeside.example"
    # The confirmation goes to the new address only; the account moves when it is opened there.
    (message,) = mail.outbox
    assert message.to == ["maria@attacker.test"]
    (link,) = links_in(message)
    client.logout()
    assert client.get(link).status_code == 200
    garcia.refresh_from_db()
    assert garcia.email == "maria.garcia@lakeside.example"  # a GET (a mail scanner) changes nothing
    assert client.post(link).status_code == 302
    garcia.refresh_from_db()
    assert garcia.email == "maria@attacker.test"
    assert client.post(link).status_code == 404  # once
    (changed,) = [e for e in account_events(high.school, garcia) if e.action == "email_change"]
    assert changed.before == {"email": "maria.garcia@lakeside.example"}


# --- 2 and 3. Invitations and the reset form ---------------------------------------------------------


def invite(client, world, inviter, email: str) -> str:
    """The inviter fills in the families page; returns the one-time link it shows."""
    client.force_login(inviter)
    response = client.post(
        reverse("reports:families", kwargs={"school_slug": world.school.slug}),
        {
            "full_name": "Someone",
            "email": email,
            "language": "en",
            "students": [world.student.pk],
        },
    )
    assert response.status_code == 200, text(response)
    link = re.search(r"https?://\S+/invite/[\w-]+/", text(response))[0]
    client.logout()
    return link


@pytest.mark.parametrize("victim_school", ["other", "own"])
def test_a_counselors_invitation_never_sets_an_imported_staff_accounts_password(
    client, high, other, one_district, victim_school
):
    # A counselor of Lakeside High invites the address of a staff login the SIS import made
    # (never signed in): another school's teacher, or their own school's admin.
    school = other.school if victim_school == "other" else high.school
    role = Role.TEACHER if victim_school == "other" else Role.SCHOOL_ADMIN
    victim = imported("victim@lakeside.example", school, role)
    link = invite(client, high, high.counselor, victim.email)

    response = client.get(link)
    assert response.status_code == 302 and response.url.startswith(reverse("login"))
    response = client.post(
        link,
        {
            "full_name": "Attacker",
            "language": "en",
            "password1": NEW_PASSWORD,
            "password2": NEW_PASSWORD,
        },
    )
    assert response.status_code == 302 and response.url.startswith(reverse("login"))
    victim.refresh_from_db()
    assert not victim.has_usable_password()
    assert not can_log_in(client, victim.email, NEW_PASSWORD)
    with scopes_disabled():
        assert not Membership.objects.filter(user=victim, role=Role.GUARDIAN).exists()


def test_an_invitation_to_an_existing_account_is_accepted_by_its_owner_signed_in(
    client, high, other
):
    parent = other.guardian  # a parent of Beta with an account of their own
    link = invite(client, high, high.counselor, parent.email)
    client.force_login(parent)
    response = client.get(link)
    assert response.status_code == 200
    assert "password1" not in text(response)
    response = client.post(link, {"full_name": "Gus Guardian", "language": "es"})
    assert response.status_code == 302
    parent.refresh_from_db()
    assert parent.check_password(PASSWORD)
    with scopes_disabled():
        assert parent.guardianships.filter(student=high.student).exists()


def test_the_schools_letter_activates_its_own_waiting_family_account(client, high):
    # A guardian the import made (never signed in, a guardian of this school only) comes in
    # with the printed letter, as families always have.
    parent = imported("waiting.parent@example.com", high.school, Role.GUARDIAN)
    link = invite(client, high, high.counselor, parent.email)
    response = client.post(
        link,
        {
            "full_name": "Pat Parent",
            "language": "es",
            "password1": NEW_PASSWORD,
            "password2": NEW_PASSWORD,
        },
    )
    assert response.status_code == 302
    assert can_log_in(client, parent.email, NEW_PASSWORD)
    (activated,) = [e for e in account_events(high.school, parent) if e.action == "activate"]
    assert activated.actor_id == parent.pk


def test_imported_staff_activate_through_the_reset_form(client, high):
    teacher = imported("new.teacher@lakeside.example", high.school, Role.TEACHER)
    teacher.preferred_language = "es"
    teacher.save()
    response = client.post(reverse("password_reset"), {"email": "New.Teacher@lakeside.example"})
    assert response.status_code == 302
    (message,) = mail.outbox
    assert message.to == [teacher.email]
    assert message.subject == "Active su cuenta de la libreta de calificaciones por dominio"
    (link,) = links_in(message)
    response = client.get(link, follow=True)
    assert response.status_code == 200
    form_url = response.redirect_chain[-1][0]
    response = client.post(form_url, {"new_password1": NEW_PASSWORD, "new_password2": NEW_PASSWORD})
    assert response.status_code == 302
    assert can_log_in(client, teacher.email, NEW_PASSWORD)
    actions = [e.action for e in account_events(high.school, teacher)]
    assert actions.count("signin_link") == 1 and actions.count("activate") == 1
    # The link worked once.
    assert "This link has expired" in client.get(link, follow=True).content.decode()


def test_the_reset_form_sends_nothing_to_a_family_account_that_never_signed_in(client, high):
    imported("mistyped.parent@example.com", high.school, Role.GUARDIAN)
    response = client.post(reverse("password_reset"), {"email": "mistyped.parent@example.com"})
    assert response.status_code == 302  # the same answer as for any address
    assert mail.outbox == []


def test_new_staff_and_students_of_an_import_get_one_activation_email_after_it_commits(
    client, high, tmp_path, django_capture_on_commit_callbacks
):
    path = package_copy(tmp_path)
    client.force_login(high.admin)
    with django_capture_on_commit_callbacks(execute=True):
        response = client.post(
            reverse("gradebook:oneroster_import", kwargs={"school_slug": high.school.slug}),
            {
                "files": [SimpleUploadedFile("r.zip", zipped(path), "application/zip")],
                "dry_run": "on",
            },
        )
    assert response.status_code == 200 and mail.outbox == []  # a dry run sends nothing

    with django_capture_on_commit_callbacks(execute=True):
        assert upload(client, high, path).status_code == 200
    sent_to = sorted(address for m in mail.outbox for address in m.to)
    assert "maria.garcia@lakeside.example" in sent_to  # a teacher
    assert "priya.patel@lakeside.example" in sent_to  # the principal
    assert "ana.rivera@students.lakeside.example" in sent_to  # a student with an email
    assert "laura.rivera@example.com" not in sent_to  # families: the printed letter
    assert len(sent_to) == len(set(sent_to))
    assert all("Activate your Mastery gradebook account" in m.subject for m in mail.outbox)

    mail.outbox.clear()
    with django_capture_on_commit_callbacks(execute=True):
        assert upload(client, high, path).status_code == 200
    assert mail.outbox == []  # once per account, however often the roster is imported


# --- The sweep: every credential-changing path, every role -----------------------------------------


@pytest.fixture
def district_c(db):
    district = District.objects.create(name="District C", slug="district-c")
    admin = make_user("district.admin@c.test", "Dee District")
    DistrictMembership.objects.create(district=district, user=admin)
    return admin


ATTACKERS = ["admin", "counselor", "teacher", "guardian", "other_admin", "district_c"]


def attacker(name, high, other, district_c):
    return {
        "admin": high.admin,
        "counselor": high.counselor,
        "teacher": high.teacher,
        "guardian": high.guardian,
        "other_admin": other.admin,
        "district_c": district_c,
    }[name]


@pytest.mark.parametrize("activated", [True, False], ids=["activated", "imported"])
@pytest.mark.parametrize("who", ATTACKERS)
def test_no_role_sets_another_persons_credentials(client, high, other, district_c, who, activated):
    victim = high.other_teacher
    if not activated:
        victim.set_unusable_password()
        victim.save()
    client.force_login(attacker(who, high, other, district_c))
    password_url = reverse("admin:auth_user_password_change", args=[victim.pk])
    answers = [
        client.post(
            password_url,
            {"usable_password": "true", "password1": NEW_PASSWORD, "password2": NEW_PASSWORD},
        ).status_code,
        client.post(
            reverse("admin:mastery_user_change", args=[victim.pk]),
            {
                "email": "taken@evil.test",
                "full_name": "Otto Other",
                "preferred_language": "en",
                "is_active": "",
            },
        ).status_code,
        client.post(
            reverse("admin:mastery_user_add"),
            {
                "email": victim.email,
                "full_name": "Otto",
                "preferred_language": "en",
                "usable_password": "true",
                "password1": NEW_PASSWORD,
                "password2": NEW_PASSWORD,
            },
        ).status_code,
        client.post(
            reverse("password_change"),
            {"old_password": "x", "new_password1": NEW_PASSWORD, "new_password2": NEW_PASSWORD},
        ).status_code,
    ]
    assert 500 not in answers
    victim.refresh_from_db()
    assert victim.email == "teacher2@lakeside-high.test"
    assert victim.is_active
    assert victim.has_usable_password() is activated
    assert not victim.check_password(NEW_PASSWORD)
    if who == "other_admin":
        assert answers[0] == 404  # another school's person: as if there were none


def test_a_school_admin_adds_a_person_who_then_chooses_their_own_password(
    client, high, django_capture_on_commit_callbacks
):
    client.force_login(high.admin)
    response = client.post(
        reverse("admin:mastery_user_add"),
        {
            "email": "new.hire@lakeside-high.test",
            "full_name": "Nia Hire",
            "preferred_language": "en",
            "password1": NEW_PASSWORD,
            "password2": NEW_PASSWORD,
        },
    )
    assert response.status_code == 302
    hire = User.objects.get(email="new.hire@lakeside-high.test")
    assert not hire.has_usable_password()  # the admin's password fields are not even read
    with django_capture_on_commit_callbacks(execute=True):
        response = client.post(
            reverse("admin:mastery_membership_add"),
            {"user": hire.pk, "school": high.school.pk, "role": Role.TEACHER},
        )
    assert response.status_code == 302, text(response)
    (message,) = mail.outbox
    assert message.to == [hire.email]
    assert "Activate" in message.subject


def test_the_admin_refuses_a_membership_for_an_account_of_another_district(client, high, other):
    # The admin runs two schools of one district; a teacher of theirs also teaches at Beta, in
    # no district of theirs. Giving that account a role in the admin's second school is refused.
    district = District.objects.create(name="North", slug="north")
    second = make_world("gamma")
    for school in (high.school, second.school):
        school.district = district
        school.save()
    with scopes_disabled():
        Membership.objects.create(school=second.school, user=high.admin, role=Role.SCHOOL_ADMIN)
        Membership.objects.create(school=other.school, user=high.teacher, role=Role.TEACHER)
    client.force_login(high.admin)
    response = client.post(
        reverse("admin:mastery_membership_add"),
        {"user": high.teacher.pk, "school": second.school.pk, "role": Role.TEACHER},
    )
    assert response.status_code == 200
    assert "cannot be added" in text(response) and "another district" in text(response)
    with scopes_disabled():
        assert not Membership.objects.filter(user=high.teacher, school=second.school).exists()


def test_a_superuser_sets_a_password_and_it_is_recorded(client, high):
    root = User.objects.create_superuser("root@example.test", PASSWORD, full_name="Root")
    client.force_login(root)
    victim = high.other_teacher
    response = client.post(
        reverse("admin:auth_user_password_change", args=[victim.pk]),
        {"usable_password": "true", "password1": NEW_PASSWORD, "password2": NEW_PASSWORD},
    )
    assert response.status_code == 302
    assert can_log_in(client, victim.email, NEW_PASSWORD)
    (event,) = account_events(high.school, victim)
    assert event.action == "password_set" and event.actor_id == root.pk
    assert NEW_PASSWORD not in str(event.summary) + str(event.before) + str(event.after)


# --- The activation email through a real SMTP server on loopback -------------------------------------


@pytest.fixture
def smtp_server(settings):
    with smtp_on_loopback() as (box, port):
        settings.MAILERS = smtp_mailers(port)
        yield box


def test_an_imported_teacher_activates_from_an_email_sent_over_smtp(client, high, smtp_server):
    teacher = imported("smtp.teacher@lakeside.example", high.school, Role.TEACHER)
    response = client.post(reverse("password_reset"), {"email": teacher.email})
    assert response.status_code == 302
    ((recipients, content),) = smtp_server.received
    assert recipients == [teacher.email]
    body = text_of(email.message_from_bytes(content))
    (link,) = re.findall(r"https?://\S+", body)
    form_url = client.get(link, follow=True).redirect_chain[-1][0]
    client.post(form_url, {"new_password1": NEW_PASSWORD, "new_password2": NEW_PASSWORD})
    assert can_log_in(client, teacher.email, NEW_PASSWORD)


# --- District IT sends a sign-in link; a school admin edits only their own people -------------------


def test_a_district_admin_emails_a_sign_in_link_but_sets_nothing(client, high, other, one_district):
    dana = make_user("dana@district.test", "Dana District")
    DistrictMembership.objects.create(district=one_district, user=dana)
    teacher = imported("waiting.teacher@lakeside.example", other.school, Role.TEACHER)
    url = reverse("district_signin_link", args=[one_district.slug])
    client.force_login(dana)
    assert client.get(url).status_code == 200

    response = client.post(url, {"email": "Waiting.Teacher@lakeside.example"})
    assert response.status_code == 200
    (message,) = mail.outbox
    assert message.to == [teacher.email] and "Activate" in message.subject
    teacher.refresh_from_db()
    assert not teacher.has_usable_password()
    (event,) = account_events(other.school, teacher)
    assert event.action == "signin_link" and event.actor_id == dana.pk

    # Someone outside the district's schools, and a family account never used: nothing is sent.
    outsider = make_user("outside@else.test")
    parent = imported("parent@example.com", high.school, Role.GUARDIAN)
    for address in (outsider.email, parent.email, "nobody@nowhere.test", "not an address"):
        assert client.post(url, {"email": address}).status_code == 422
    assert len(mail.outbox) == 1


def test_only_the_districts_own_admins_reach_its_sign_in_links(
    client, high, one_district, district_c
):
    url = reverse("district_signin_link", args=[one_district.slug])
    for person in (high.admin, high.counselor, district_c):
        client.force_login(person)
        assert client.post(url, {"email": high.teacher.email}).status_code == 404
    assert mail.outbox == []


def test_a_school_admin_only_views_a_person_who_is_also_someone_elsewhere(
    client, high, other, one_district
):
    shared = other.teacher
    with scopes_disabled():
        Membership.objects.create(school=high.school, user=shared, role=Role.TEACHER)
    client.force_login(high.admin)
    url = reverse("admin:mastery_user_change", args=[shared.pk])
    assert client.get(url).status_code == 200  # a view-only page
    client.post(url, {"email": shared.email, "full_name": "Renamed", "preferred_language": "es"})
    shared.refresh_from_db()
    assert (shared.full_name, shared.preferred_language) == ("Tess Teacher", "en")
    # Their own school's teacher: the name and language are theirs to correct.
    own = high.other_teacher
    response = client.post(
        reverse("admin:mastery_user_change", args=[own.pk]),
        {"full_name": "Otto Corrected", "preferred_language": "es"},
    )
    assert response.status_code == 302
    own.refresh_from_db()
    assert (own.full_name, own.preferred_language, own.email) == (
        "Otto Corrected",
        "es",
        "teacher2@lakeside-high.test",
    )


@pytest.mark.parametrize("page", ["password_change", "admin:password_change"])
def test_the_owner_changes_their_own_password_and_it_is_recorded(client, high, page):
    client.force_login(high.admin)
    response = client.post(
        reverse(page),
        {"old_password": PASSWORD, "new_password1": NEW_PASSWORD, "new_password2": NEW_PASSWORD},
    )
    assert response.status_code == 302
    assert can_log_in(client, high.admin.email, NEW_PASSWORD)
    (event,) = account_events(high.school, high.admin)
    assert (event.action, event.actor_id) == ("password_set", high.admin.pk)


def test_the_api_has_no_way_to_reach_an_account(client, high):
    # Tokens act for staff on a school's records; accounts, passwords and memberships are not
    # among them (so no token can take over a login).
    schema = client.get(reverse("api:schema"), HTTP_ACCEPT="application/json").json()
    paths = " ".join(schema["paths"]).lower()
    for word in ("user", "password", "membership", "account", "email"):
        assert word not in paths


def test_the_reset_form_sends_a_few_links_an_hour_at_most(client, high):
    for _ in range(8):
        response = client.post(reverse("password_reset"), {"email": high.teacher.email})
        assert response.status_code == 302  # the same answer every time
    assert len(mail.outbox) == 5
    assert len(account_events(high.school, high.teacher)) == 5
