"""The identity rule: an account is a person, not a school's record (docs/design.md section 7).

Every path that attaches an existing login to a school or touches its credentials comes here:
the OneRoster import, the Django admin, guardian invitations, the password reset and activation
pages. The rule, in two parts:

1. Attaching. A school may attach an existing account (a teacher at two schools, a parent with
   children in two schools) only where that hands it no control of the account: the account
   belongs to no other district (every school it belongs to, and every district it administers,
   is this school's district), and it is not a site administrator's. `link_refusals` says why an
   account may not be attached; the import reports it as a row error, the admin as a form error.
   Attaching is recorded in the trail of the account's other schools, so a school sees who else
   took its people in.
2. Credentials. Only the owner sets them: through a link sent to the account's own address (the
   reset form, the activation email of an imported or admin-made account), or by signing in. A
   superuser may too. No school admin, counselor, import or invitation sets or changes another
   person's password or email: an invitation addressed to an existing account is accepted by
   signing in as it; an import that finds a new address for an activated account asks the person
   to confirm from that address. Every credential event (a sign-in link sent, a password set, an
   activation, an email changed) is recorded in the trail of every school the account belongs to.

Families are the exception to emailed activation: a mistyped guardian address must not receive
a child's record, so an imported guardian who never signed in gets in through the school's
printed letter (an invitation code), and the reset form sends nothing to such an account.
"""

from __future__ import annotations

import logging
from collections import defaultdict
from collections.abc import Iterable
from typing import Any

from django.conf import settings
from django.contrib.auth.tokens import default_token_generator
from django.core import signing
from django.core.exceptions import ValidationError
from django.core.mail import send_mail
from django.db import transaction
from django.db.models import Q
from django.template.loader import render_to_string
from django.urls import reverse
from django.utils import timezone, translation
from django.utils.encoding import force_bytes
from django.utils.http import urlsafe_base64_encode
from django.utils.translation import gettext

from mastery import audit
from mastery.models import (
    STAFF_ROLES,
    AuditEvent,
    District,
    DistrictMembership,
    Membership,
    Role,
    School,
    User,
)
from mastery.tenancy import all_schools, district_schools

log = logging.getLogger(__name__)

Action = AuditEvent.Action
EMAIL_CHANGE_SALT = "mastery.accounts.email-change"
EMAIL_CHANGE_DAYS = 7


# --- 1. Attaching an existing account to a school ------------------------------------------------


def _home_of(school_id: int, district_id: int | None) -> tuple[str, int]:
    # A school outside any district is a district of its own.
    return ("district", district_id) if district_id is not None else ("school", school_id)


def link_refusals(*, school: School, user_ids: Iterable[int]) -> dict[int, str]:
    """For accounts a school is about to attach: why each one may not be (absent when it may).

    Three queries whatever the number of accounts (an import checks thousands at once)."""
    ids = sorted(set(user_ids))
    if not ids:
        return {}
    home = _home_of(school.id, school.district_id)
    homes: dict[int, set[tuple[str, int]]] = defaultdict(set)
    with all_schools():  # one yes/no question per account: nothing of theirs is read or shown
        for user_id, school_id, district_id in Membership.objects.filter(
            user_id__in=ids
        ).values_list("user_id", "school_id", "school__district_id"):
            homes[user_id].add(_home_of(school_id, district_id))
    for user_id, district_id in DistrictMembership.objects.filter(user_id__in=ids).values_list(
        "user_id", "district_id"
    ):
        homes[user_id].add(("district", district_id))
    refusals: dict[int, str] = {}
    for user_id in User.objects.filter(
        Q(is_superuser=True) | Q(is_staff=True), id__in=ids
    ).values_list("id", flat=True):
        refusals[user_id] = (
            "it is a site administrator's account; only a site administrator can give it a "
            f"place in {school.name}"
        )
    for user_id, found in homes.items():
        if user_id not in refusals and found - {home}:
            refusals[user_id] = (
                "it belongs to a person in another district, and a school cannot take in an "
                "account of another district. The person can be given another email address "
                "here, or a site administrator can add this account"
            )
    return refusals


def link_check(*, school: School, user: User) -> None:
    """Raise ValidationError when `school` may not attach this existing account."""
    refusal = link_refusals(school=school, user_ids=[user.pk]).get(user.pk)
    if refusal:
        raise ValidationError(f"{user.email} cannot be added: {refusal}.")


def links_announce(*, school: School, grants: Iterable[tuple[User, str]]) -> int:
    """Record in the trail of each other school of these accounts that `school` gave them a role
    (the account's other schools see who took their people in). Returns the events recorded."""
    grants = list(grants)
    if not grants:
        return 0
    by_user = {user.pk: user for user, _ in grants}
    with all_schools():
        elsewhere: dict[int, set[int]] = defaultdict(set)
        for user_id, school_id in (
            Membership.objects.filter(user_id__in=list(by_user))
            .exclude(school_id=school.id)
            .values_list("user_id", "school_id")
        ):
            elsewhere[user_id].add(school_id)
        events = [
            audit.event(
                school=other,
                action=Action.LINK,
                object_type=AuditEvent.ObjectType.ACCOUNT,
                object_id=user.pk,
                summary=(
                    f"{user.email} was given the role {Role(role).label} at {school.name} "
                    "(the account's password and email stay theirs)"
                ),
                after={"school": school.name, "role": role},
            )
            for user, role in grants
            for other in sorted(elsewhere.get(user.pk, ()))
        ]
        return audit.record_many(events)


# --- 2. Credentials: only the owner sets them ----------------------------------------------------


def credential_record(
    *,
    user: User,
    action: str,
    summary: str,
    actor: Any = audit.CONTEXT,
    before: dict | None = None,
    after: dict | None = None,
    source: str | None = None,
) -> int:
    """A credential event in the trail of every school the account belongs to. No secret (a
    password, a token, a link) is ever written to it."""
    with all_schools():
        school_ids = sorted(
            set(Membership.objects.filter(user=user).values_list("school_id", flat=True))
        )
        return audit.record_many(
            audit.event(
                school=school_id,
                action=action,
                object_type=AuditEvent.ObjectType.ACCOUNT,
                object_id=user.pk,
                summary=f"{user.email}: {summary}",
                before=before,
                after=after,
                actor=actor,
                source=source,
            )
            for school_id in school_ids
        )


# --- 3. Single sign-on (mastery.sso) --------------------------------------------------------------


def sso_refusal(*, district: District, user: User) -> str | None:
    """Why this account may not sign in through `district`'s identity provider (None: it may).

    Only a person of that district and of no other — a member of its schools as staff or student,
    or one of its district admins — and never a site administrator's account. Guardians never do:
    a family's account spans districts and keeps its own sign-in. The provider vouches for the
    district's people, not for anyone else's account."""
    if not user.is_active:
        return gettext("this account is turned off")
    if user.is_superuser or user.is_staff:
        return gettext("site administrators sign in with their password")
    with all_schools():
        homes = set(Membership.objects.filter(user=user).values_list("school__district_id", "role"))
    admin_of = set(
        DistrictMembership.objects.filter(user=user).values_list("district_id", flat=True)
    )
    if any(district_id != district.pk for district_id, _ in homes) or admin_of - {district.pk}:
        return gettext("this account belongs to a person in another district too")
    roles = {role for _, role in homes}
    if Role.GUARDIAN in roles:
        return gettext(
            "families sign in with their own email and password, not the district's sign-in"
        )
    if not (roles & {*STAFF_ROLES, Role.STUDENT}) and district.pk not in admin_of:
        return gettext("this account is not one of the district's staff or students")
    return None


def password_signin_allowed(user: User) -> bool:
    """False when a district of this person's has turned password sign-in off for its staff and
    students (they then sign in only through its identity provider, and no reset or activation
    link is sent: turning them off there is final)."""
    if user.is_superuser:
        return True
    with all_schools():
        closed = Membership.objects.filter(
            user=user,
            role__in=[*STAFF_ROLES, Role.STUDENT],
            school__district__password_signin=False,
        ).exists()
    if closed:
        return False
    return not DistrictMembership.objects.filter(
        user=user, district__password_signin=False
    ).exists()


def may_receive_signin_link(user: User) -> bool:
    """Whether a sign-in link may be emailed to this account's address.

    An activated account may always (its owner chose that address by using it). One that never
    signed in may when the address comes from somewhere that vouches for it: staff and students
    (district-issued addresses), district admins. A never-activated guardian account may not: a
    mistyped family address must not open a child's record; families come in with the letter."""
    if not user.is_active or not password_signin_allowed(user):
        return False
    if user.is_activated or user.is_superuser:
        return True
    if DistrictMembership.objects.filter(user=user).exists():
        return True
    with all_schools():
        return Membership.objects.filter(user=user, role__in=[*STAFF_ROLES, Role.STUDENT]).exists()


def letter_may_activate(*, user: User, school: School) -> bool:
    """Whether the school's printed letter (an invitation code or link) may activate this existing
    account: the one path where an invitation sets the password of an account it did not make.

    Only an account waiting for its family: never signed in, active, not a site administrator's
    nor a district admin's, holding nothing but guardian roles, all in this school's district (a
    family rostered by the district's schools; the district is the wall the import keeps too).
    A staff or student account, or one of another district, is never activated this way. Once
    activated, the owner can always take the account back through the reset link at their own
    address."""
    if user.is_activated or not user.is_active or user.is_superuser or user.is_staff:
        return False
    if DistrictMembership.objects.filter(user=user).exists():
        return False
    with all_schools():
        roles = set(Membership.objects.filter(user=user).values_list("role", flat=True))
    if roles - {Role.GUARDIAN}:
        return False
    return user.pk not in link_refusals(school=school, user_ids=[user.pk])


def district_person(*, district: District, email: str) -> User | None:
    """The account with this address if it is one of the district's people: a member of one of
    its schools, or one of its district admins; else None."""
    user = User.objects.filter(email=User.objects.normalize_address(email)).first()
    if user is None:
        return None
    if DistrictMembership.objects.filter(district=district, user=user).exists():
        return user
    with district_schools(district):
        if Membership.objects.filter(user=user, school__district=district).exists():
            return user
    return None


def shared_beyond(*, user: User, school_ids: Iterable[int]) -> bool:
    """Whether the account is also someone elsewhere: a member of a school outside `school_ids`,
    a district admin, or a site administrator. Its name and language are then not any one
    school's to edit (an import does not rename it either)."""
    if user.is_superuser or user.is_staff:
        return True
    if DistrictMembership.objects.filter(user=user).exists():
        return True
    with all_schools():
        return Membership.objects.filter(user=user).exclude(school_id__in=list(school_ids)).exists()


def signin_link(user: User, base_url: str) -> str:
    """A one-time link (Django's password-reset token: it stops working once the password
    changes, and after PASSWORD_RESET_TIMEOUT) to choose a password."""
    path = reverse(
        "password_reset_confirm",
        kwargs={
            "uidb64": urlsafe_base64_encode(force_bytes(user.pk)),
            "token": default_token_generator.make_token(user),
        },
    )
    return base_url.rstrip("/") + path


def signin_link_send(
    *, user: User, base_url: str, actor: Any = None, source: str = "reset form"
) -> bool:
    """Email the account's own address a link to choose a password: an activation email for an
    account that never signed in, a reset email otherwise; in the person's language. Returns
    False (and sends nothing) when the account may not receive one."""
    if not may_receive_signin_link(user):
        return False
    activation = not user.is_activated
    kind = "activation" if activation else "password_reset"
    with translation.override(user.preferred_language or settings.LANGUAGE_CODE):
        context = {"user": user, "link": signin_link(user, base_url)}
        subject = render_to_string(f"registration/{kind}_subject.txt", context)
        body = render_to_string(f"registration/{kind}_email.txt", context)
    send_mail(" ".join(subject.split()), body, None, [user.email])
    credential_record(
        user=user,
        action=Action.SIGNIN_LINK,
        summary=("an activation link" if activation else "a password reset link")
        + " was emailed to the account's address",
        actor=actor,
        source=source,
    )
    return True


def activations_send(*, user_ids: Iterable[int], base_url: str) -> int:
    """Activation emails for accounts an import (or a school admin) made: each account once, and
    only while it has not been activated. Claims each account with a conditional UPDATE before
    sending, so a task that runs twice sends once. Returns how many were sent."""
    sent = 0
    for user in User.objects.filter(id__in=list(user_ids), activation_sent_at__isnull=True):
        if user.is_activated:
            continue
        with transaction.atomic():
            claimed = User.objects.filter(pk=user.pk, activation_sent_at__isnull=True).update(
                activation_sent_at=timezone.now()
            )
            if claimed and signin_link_send(
                user=user, base_url=base_url, actor=None, source="activation"
            ):
                sent += 1
    return sent


@transaction.atomic
def password_set(
    *, user: User, password: str, actor: Any = audit.CONTEXT, source: str | None = None
) -> User:
    """The owner (or a superuser) sets the account's password; the first one activates it."""
    first = not user.is_activated
    user.set_password(password)
    user.save(update_fields=["password"])
    credential_record(
        user=user,
        action=Action.ACTIVATE if first else Action.PASSWORD_SET,
        summary="the account was activated (its owner chose a password)"
        if first
        else "the password was changed",
        actor=actor,
        source=source,
    )
    return user


# --- Email changes: confirmed from the new address ------------------------------------------------


def email_change_request(
    *, user: User, new_email: str, base_url: str, actor: Any = None, source: str = ""
) -> bool:
    """Ask the person to confirm a new address (an import found one for an activated account):
    a signed link, valid EMAIL_CHANGE_DAYS days, mailed to the new address only; the account
    keeps its address until the link is opened. False when the address is taken."""
    new_email = User.objects.normalize_address(new_email)
    if new_email == user.email or User.objects.filter(email=new_email).exists():
        return False
    token = signing.dumps(
        {"user": user.pk, "from": user.email, "to": new_email}, salt=EMAIL_CHANGE_SALT
    )
    link = base_url.rstrip("/") + reverse("email_change_confirm", args=[token])
    with translation.override(user.preferred_language or settings.LANGUAGE_CODE):
        context = {"user": user, "link": link, "new_email": new_email, "days": EMAIL_CHANGE_DAYS}
        subject = render_to_string("registration/email_change_subject.txt", context)
        body = render_to_string("registration/email_change_email.txt", context)
    send_mail(" ".join(subject.split()), body, None, [new_email])
    credential_record(
        user=user,
        action=Action.SIGNIN_LINK,
        summary=f"a link to confirm the new address {new_email} was emailed to it",
        actor=actor,
        source=source,
    )
    return True


def email_change_pending(token: str) -> tuple[User, str] | None:
    """The account and new address a confirmation link stands for, or None when it is forged,
    expired, or already used (the account's address is no longer the one it was made for)."""
    try:
        data = signing.loads(token, salt=EMAIL_CHANGE_SALT, max_age=EMAIL_CHANGE_DAYS * 86400)
    except signing.BadSignature:
        return None
    user = User.objects.filter(pk=data.get("user"), email=data.get("from"), is_active=True).first()
    if user is None or User.objects.filter(email=data.get("to")).exists():
        return None
    return user, data["to"]


@transaction.atomic
def email_change_confirm(*, token: str) -> User:
    """The person opened the link in the new address's mailbox: the account takes that address."""
    pending = email_change_pending(token)
    if pending is None:
        raise ValidationError("This link has expired or was already used.")
    user, new_email = pending
    return email_change(user=user, new_email=new_email, actor=user, source="email confirmation")


@transaction.atomic
def email_change(*, user: User, new_email: str, actor: Any, source: str = "") -> User:
    """Change an account's address: from a confirmation link (its owner), or a superuser."""
    new_email = User.objects.normalize_address(new_email)
    old = User.objects.select_for_update().values_list("email", flat=True).get(pk=user.pk)
    if new_email == old:
        return user
    if User.objects.filter(email=new_email).exclude(pk=user.pk).exists():
        raise ValidationError("Another account uses that address.")
    user.email = new_email
    user.save(update_fields=["email"])
    credential_record(
        user=user,
        action=Action.EMAIL_CHANGE,
        summary=f"the email changed from {old}",
        before={"email": old},
        after={"email": new_email},
        actor=actor,
        source=source,
    )
    return user
