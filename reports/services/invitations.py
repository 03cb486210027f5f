"""Guardian invitations: made by the school, found by their link or letter code, accepted by the
guardian (the account, the guardian role and the children)."""

from __future__ import annotations

from datetime import timedelta
from typing import cast

from django.contrib.auth import get_user_model
from django.contrib.auth.models import AnonymousUser
from django.core.exceptions import ValidationError
from django.db import transaction
from django.utils import timezone

from gradebook.models import Guardianship, Student
from mastery import accounts, audit
from mastery.models import AuditEvent, Membership, Role, School, User
from mastery.tenancy import all_schools, enter_school
from reports.models import GuardianInvitation, digest

INVITATION_DAYS = 30


@transaction.atomic
def invitation_create(
    *,
    school: School,
    created_by: User,
    email: str,
    full_name: str,
    language: str,
    students: list[Student],
    relationship: str = "",
) -> tuple[GuardianInvitation, str, str]:
    """An invitation for one guardian to see these students. Returns (invitation, token, code):
    the token and the code are shown once and only their digests are kept."""
    if not students or any(s.school_id != school.id for s in students):
        raise ValidationError({"students": ["Choose at least one student of this school."]})
    token, code = GuardianInvitation.new_secrets()
    invitation = GuardianInvitation.objects.create(
        school=school,
        email=get_user_model().objects.normalize_address(email),
        full_name=full_name.strip(),
        language=language,
        students=[s.id for s in students],
        relationship=relationship.strip()[:40],
        token_digest=digest(token),
        code_digest=digest(code.replace("-", "")),
        created_by=created_by,
        expires_at=timezone.now() + timedelta(days=INVITATION_DAYS),
    )
    return invitation, token, code


def invitation_find(
    *, token: str | None = None, code: str | None = None
) -> GuardianInvitation | None:
    """A usable invitation by its link token or its letter code (any school), or None."""
    with all_schools():  # the school is not known yet: the invitation says which
        if token:
            found = (
                GuardianInvitation.objects.filter(token_digest=digest(token))
                .select_related("school")
                .first()
            )
        else:
            cleaned = "".join(ch for ch in (code or "").upper() if ch.isalnum())
            found = (
                GuardianInvitation.objects.filter(code_digest=digest(cleaned))
                .select_related("school")
                .first()
            )
    return found if found is not None and found.usable else None


def invitation_needs(invitation: GuardianInvitation, user: User | AnonymousUser | None) -> str:
    """What accepting this invitation takes, as the identity rule (mastery.accounts) has it:
    "password" (a new account, or the school's own waiting family account: the guardian chooses
    its password), "accept" (the signed-in owner of the invited address), or "signin" (an
    account someone owns: only signing in as it accepts the invitation)."""
    User = get_user_model()
    existing = User.objects.filter(email=User.objects.normalize_address(invitation.email)).first()
    if existing is None or accounts.letter_may_activate(user=existing, school=invitation.school):
        return "password"
    if user is not None and user.is_authenticated and user.pk == existing.pk:
        return "accept"
    return "signin"


@transaction.atomic
def invitation_accept(
    *,
    invitation: GuardianInvitation,
    user: User | AnonymousUser | None = None,
    full_name: str,
    password: str | None,
    language: str,
) -> User:
    """Use up the invitation: the guardian's account (created for a new address and given its
    password; an existing one only when `user`, the signed-in person, owns it), a guardian role
    in the school and the children. Raises ValidationError otherwise: an invitation never sets
    the password of someone's account (mastery.accounts)."""
    User = get_user_model()
    with all_schools():
        locked = GuardianInvitation.objects.select_for_update().get(pk=invitation.pk)
    if not locked.usable:
        raise ValidationError("This invitation was already used, or it has expired.")
    needs = invitation_needs(locked, user)
    if needs == "signin":
        raise ValidationError(
            "An account already uses this address: sign in to it, then open the invitation again."
        )
    if needs == "password" and not password:
        raise ValidationError("Choose a password for your account.")
    account = User.objects.filter(email=User.objects.normalize_address(locked.email)).first()
    if account is None:
        account = User.objects.create_user(
            locked.email, None, full_name=full_name, preferred_language=language
        )
    elif needs == "password":
        account.full_name = account.full_name or full_name
    account.preferred_language = language
    account.save(update_fields=["full_name", "preferred_language"])
    school = locked.school
    with enter_school(school):
        membership, given = Membership.objects.get_or_create(
            school=school, user=account, role=Role.GUARDIAN
        )
        if given:
            audit.record_many(
                [
                    audit.membership_event(
                        action=AuditEvent.Action.CREATE,
                        membership=membership,
                        user=account,
                        actor=account,
                        source="invitation",
                    )
                ]
            )
            accounts.links_announce(school=school, grants=[(account, Role.GUARDIAN)])
        for student in Student.objects.filter(school=school, pk__in=locked.students):
            Guardianship.objects.get_or_create(
                school=school,
                guardian=account,
                student=student,
                defaults={"relationship": locked.relationship},
            )
    if needs == "password":
        # After the membership: the activation is recorded in the school's trail.
        accounts.password_set(
            user=account,
            password=cast(str, password),  # refused above when empty
            actor=account,
            source="invitation",
        )
    locked.accepted_at, locked.accepted_by = timezone.now(), account
    locked.save(update_fields=["accepted_at", "accepted_by"])
    return account
