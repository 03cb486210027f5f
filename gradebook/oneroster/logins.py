"""Logins: a User for everyone who logs in, unique by email, taken in as the identity rule allows."""

from __future__ import annotations

from collections import defaultdict

from django.contrib.auth.hashers import make_password
from django.core.exceptions import ValidationError
from django.core.validators import validate_email
from django.db.models import Q

from gradebook.oneroster import report as entities
from gradebook.oneroster.parser import Row
from gradebook.oneroster.roster import People
from gradebook.oneroster.state import USERS, ImportState, Kind, Target
from mastery import accounts
from mastery.models import DistrictMembership, Membership, User
from mastery.tenancy import all_schools

# A stand-in for a user named only by another file (no users.csv row in this package).
_NO_ROW = Row(USERS, 0, {})


def import_logins(state: ImportState, people: People) -> None:
    """A User for everyone who logs in: staff, guardians, students whose row has an email."""
    users = state.rows[USERS]
    staff = {uid for _, uid in people.staff}
    needed = staff | set(people.children) | set(people.members)
    needed |= {uid for uid in people.student_in if users.get(uid, _NO_ROW)["email"]}
    wanted: dict[str, tuple[Row, str]] = {}  # sourcedId → (row, normalized email)
    line_of: dict[str, int] = {}
    for uid in sorted(needed, key=lambda u: users[u].line if u in users else 0):
        row = users.get(uid)
        if row is None:
            continue  # an earlier import's user: their login is found below
        if not row["email"]:
            if uid in staff:
                state.error(row, "a teacher, counselor or administrator needs an email to log in")
            elif uid in people.children:
                state.report.add_warning(
                    USERS,
                    row.line,
                    f"No login for guardian “{uid}”: the row has no email, so their "
                    "guardianships are not imported.",
                )
                people.children.pop(uid, None)
            continue
        email = User.objects.normalize_address(row["email"])
        try:
            validate_email(email)
        except ValidationError:
            state.error(row, f"email “{row['email']}” is not an email address")
            continue
        if email in line_of:
            state.error(row, f"email {email} is also on line {line_of[email]}")
            continue
        line_of[email] = row.line
        wanted[uid] = (row, email)

    mapped: dict[str, int] = {}
    owner_of: dict[int, str] = {}
    for (_, kind, target), by_sid in state.mappings.items():
        if (kind, target) == (Kind.USER, Target.USER):
            for sid, mapping in by_sid.items():
                mapped.setdefault(sid, mapping.object_id)
                owner_of.setdefault(mapping.object_id, sid)
    found = User.objects.filter(
        Q(id__in=[mapped[uid] for uid in needed if uid in mapped])
        | Q(email__in=[email for _, email in wanted.values()])
    )
    by_id = {u.id: u for u in found}
    by_email = {u.email: u for u in by_id.values()}
    tally = state.report.tally(entities.USERS)
    new: list[User] = []
    renames: list[tuple[User, dict[str, str], Row]] = []
    for uid in sorted(needed):
        user = by_id.get(mapped.get(uid, 0))
        if uid not in wanted:
            if user is not None:
                state.logins[uid] = user  # no usable row now: keep the login imported before
            elif uid not in users:
                state.report.add_error(
                    USERS, 0, f"User “{uid}” needs a login but has no row in users.csv."
                )
            continue
        row, email = wanted[uid]
        holder = by_email.get(email)
        if holder is not None and holder is not user:
            owner = owner_of.get(holder.id)
            if user is not None or (owner is not None and owner != uid):
                state.error(
                    row,
                    f"email {email} already belongs to "
                    + (f"user sourcedId “{owner}”" if owner else "another login"),
                )
                continue
            refusal = _link_refusal(state, uid, holder, people)
            if refusal:
                state.error(row, f"email {email} cannot be used here: {refusal}")
                continue
            user = holder  # a login made by hand (or for another school) is the same person
        full_name = " ".join(
            part
            for part in (row["preferredGivenName"] or row["givenName"], row["familyName"])
            if part
        )[:200]
        if user is None:
            user = User(email=email, full_name=full_name, password=make_password(None))
            new.append(user)
            tally.created += 1
        elif _login_unchanged(state, row, user):
            tally.unchanged += 1
        else:
            changed = {
                f: v
                for f, v in (("full_name", full_name), ("email", email))
                if getattr(user, f) != v
            }
            if changed:
                renames.append((user, changed, row))
            else:
                tally.unchanged += 1
        state.logins[uid] = user
    shared = _shared_logins(state, [user.id for user, _, _ in renames])
    by_fields: dict[tuple[str, ...], list[User]] = defaultdict(list)
    for user, changed, row in renames:
        if user.id in shared:
            # A login is global: one school's roster must not rename someone another school knows.
            state.report.add_warning(
                USERS,
                row.line,
                f"{user.email} was not renamed: they also belong to a school this import does not cover.",
            )
            state.not_renamed.add(row.sid)
            tally.unchanged += 1
            continue
        if "email" in changed and user.is_activated:
            # The person signs in with it: only they can move the account to another
            # address, by opening the confirmation link mailed there (after the commit).
            new_email = changed.pop("email")
            state.email_changes.append((user, new_email))
            state.report.add_warning(
                USERS,
                row.line,
                f"{user.email} keeps its address until the person confirms {new_email}: "
                "a link to confirm it is emailed there once the import is saved.",
            )
            if not changed:
                tally.unchanged += 1
                continue
        for f, v in changed.items():
            setattr(user, f, v)
        by_fields[tuple(sorted(changed))].append(user)
        tally.updated += 1
    User.objects.bulk_create(new)
    for fields, objs in by_fields.items():
        User.objects.bulk_update(objs, list(fields))


def _link_refusal(state: ImportState, uid: str, user: User, people: People) -> str | None:
    """Why this import may not take in an existing login (mastery.accounts, the identity
    rule), for each school of the import that would give it a place."""
    school_ids = {school_id for (school_id, sid) in people.staff if sid == uid}
    school_ids |= people.student_in.get(uid, set()) | people.members.get(uid, set())
    for child in people.children.get(uid, ()):
        school_ids |= people.student_in.get(child, set())
    for school_id in sorted(school_ids or state.schools):
        refusal = accounts.link_refusals(school=state.schools[school_id], user_ids=[user.pk]).get(
            user.pk
        )
        if refusal:
            return refusal
    return None


def _login_unchanged(state: ImportState, row: Row, user: User) -> bool:
    """Every school that imported this login last saw this very row (a login is global)."""
    mappings = [
        m
        for school_id in state.schools
        if (m := state.mapping(school_id, Kind.USER, row.sid, Target.USER)) is not None
    ]
    fingerprint = state.fingerprint(row)
    return bool(mappings) and all(
        (m.object_id, m.fingerprint) == (user.id, fingerprint) for m in mappings
    )


def _shared_logins(state: ImportState, user_ids: list[int]) -> set[int]:
    """Logins that also belong somewhere this import does not cover (or run the site)."""
    if not user_ids:
        return set()
    # Membership is a tenant table: asking about other schools needs the scope lifted, for
    # this one yes/no question per user (nothing of theirs is read or shown).
    with all_schools():
        elsewhere = set(
            Membership.objects.filter(user_id__in=user_ids)
            .exclude(school_id__in=list(state.schools))
            .values_list("user_id", flat=True)
        )
    elsewhere |= set(
        DistrictMembership.objects.filter(user_id__in=user_ids).values_list("user_id", flat=True)
    )
    elsewhere |= set(
        User.objects.filter(Q(is_staff=True) | Q(is_superuser=True), id__in=user_ids).values_list(
            "id", flat=True
        )
    )
    return elsewhere
