"""Who may enter which school, and as what.

One place decides it: the school middleware (requests) and the task base class (Celery) both call
`school_access` / `enter_school` and fail closed.
"""

from __future__ import annotations

from dataclasses import dataclass, field

from django_scopes import scopes_disabled

from mastery.models import STAFF_ROLES, DistrictMembership, Membership, Role, School

DISTRICT_ADMIN = "district_admin"


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
    school = School.objects.filter(slug=slug).select_related("district").first()
    if school is None:
        return None
    with scopes_disabled():
        roles = set(
            Membership.objects.filter(school=school, user=user).values_list("role", flat=True)
        )
        if (
            school.district_id
            and DistrictMembership.objects.filter(
                district_id=school.district_id, user=user
            ).exists()
        ):
            roles.add(DISTRICT_ADMIN)
    if not roles:
        return None
    return SchoolAccess(school=school, roles=frozenset(roles))


def schools_for_user(user) -> list[tuple[School, list[str]]]:
    """Every school the user can enter with their roles there, for the home page."""
    if not user.is_authenticated:
        return []
    by_school: dict[int, tuple[School, set[str]]] = {}
    with scopes_disabled():
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
