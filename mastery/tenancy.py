"""Who may enter which school, and as what.

One place decides it: the school middleware (requests) and the task base class (Celery) both call
`school_access` / `enter_school` and fail closed.

Two walls keep schools apart: django-scopes in the ORM, and row-level security in PostgreSQL
(mastery.rls). `enter_school` opens both for one school; `district_schools` opens them to one
district's schools (its admin's pages); `all_schools` opens both to every school, for the few
paths that cross schools on purpose (looking up a membership before the school is known, the
family portal, the admin, the beat dispatchers, the management commands). Grep for
`all_schools(` to audit them.
"""

from __future__ import annotations

from collections.abc import Iterator
from contextlib import contextmanager
from dataclasses import dataclass, field

from django.db.models import Exists, OuterRef
from django_scopes import scope, scopes_disabled

from mastery import rls
from mastery.models import STAFF_ROLES, District, DistrictMembership, Membership, Role, School


@contextmanager
def enter_school(school: School | int) -> Iterator[None]:
    """Run the block in one school: its django-scopes scope and its row-level security."""
    school_id = school if isinstance(school, int) else school.pk
    with scope(school=school), rls.Wall(school_id=school_id):
        yield


@contextmanager
def all_schools() -> Iterator[None]:
    """Cross schools on purpose: scopes disabled and the row-level security wall open to every
    school. Only where the code itself keeps to what the user may see (their memberships, their
    children, the admin's own filters) or must see everything (dispatchers, commands)."""
    with scopes_disabled(), rls.Wall(all_schools=True):
        yield


@contextmanager
def district_schools(district: District | int) -> Iterator[list[int]]:
    """Cross the schools of one district (its admin's pages, district tokens, district jobs):
    scopes disabled, and the row-level security wall open to that district's schools only, so a
    query that forgets its filter still reads nothing of another district. Yields their ids."""
    district_id = district if isinstance(district, int) else district.pk
    school_ids = list(
        School.objects.filter(district_id=district_id).order_by("id").values_list("id", flat=True)
    )
    with scopes_disabled(), rls.Wall(school_ids=tuple(school_ids)):
        yield school_ids


DISTRICT_ADMIN = "district_admin"
# Who may use the REST API (and make tokens for it); families and students have the portal.
API_ROLES = frozenset({*STAFF_ROLES, DISTRICT_ADMIN})


@dataclass(frozen=True)
class SchoolAccess:
    school: School
    roles: frozenset[str] = field(default_factory=frozenset)

    @property
    def is_staff(self) -> bool:
        return bool(self.roles & (STAFF_ROLES | {DISTRICT_ADMIN}))

    @property
    def is_student(self) -> bool:
        return Role.STUDENT in self.roles

    def has(self, *roles: str) -> bool:
        return bool(self.roles.intersection(roles))


def school_access(user, slug: str) -> SchoolAccess | None:
    """The user's roles in the school with this slug, or None (unknown school or no membership)."""
    if not user.is_authenticated or not user.is_active:
        return None

    # Every request to a school page asks this: one query for a member (their memberships with the
    # school and whether they also administer its district), two for anyone else.
    def administers(district_field: str) -> Exists:
        return Exists(
            DistrictMembership.objects.filter(district_id=OuterRef(district_field), user=user)
        )

    with all_schools():  # the school is not known yet: the user's memberships say which
        memberships = list(
            Membership.objects.filter(user=user, school__slug=slug)
            .select_related("school__district")
            .annotate(district_admin=administers("school__district_id"))
        )
    if memberships:
        roles = {m.role for m in memberships}
        if memberships[0].district_admin:
            roles.add(DISTRICT_ADMIN)
        return SchoolAccess(school=memberships[0].school, roles=frozenset(roles))
    school = (
        School.objects.filter(slug=slug)
        .select_related("district")
        .annotate(district_admin=administers("district_id"))
        .first()
    )
    if school is None or not school.district_admin:
        return None
    return SchoolAccess(school=school, roles=frozenset({DISTRICT_ADMIN}))


def schools_for_user(user) -> list[tuple[School, list[str]]]:
    """Every school the user can enter with their roles there, for the home page."""
    if not user.is_authenticated:
        return []
    by_school: dict[int, tuple[School, set[str]]] = {}
    with all_schools():
        for membership in Membership.objects.filter(user=user).select_related("school"):
            by_school.setdefault(membership.school_id, (membership.school, set()))[1].add(
                membership.role
            )
    district_ids = DistrictMembership.objects.filter(user=user).values_list(
        "district_id", flat=True
    )
    for school in School.objects.filter(district_id__in=list(district_ids)):
        by_school.setdefault(school.id, (school, set()))[1].add(DISTRICT_ADMIN)
    order = {role: i for i, role in enumerate([*Role.values, DISTRICT_ADMIN])}
    return sorted(
        ((school, sorted(roles, key=order.__getitem__)) for school, roles in by_school.values()),
        key=lambda pair: pair[0].name,
    )
