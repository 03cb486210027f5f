"""`oneroster_import`: a OneRoster 1.2 CSV package into the roster, upserted by sourcedId.

How OneRoster becomes this app's roster:
- org of type school → School (the command line creates a school it has not met, its slug from
  the org's identifier or name, under the District made from its parent org of type district);
  other org types only give context (a course at a department org takes that department's name).
- academicSession term / semester / schoolYear → Term, in every school the import writes into
  (sessions carry no org in the 1.2 CSV: the calendar is the district's); gradingPeriod →
  GradingPeriod under its parent term.
- course → Course (code from courseCode, else the sourcedId), in its school and in every school
  whose classes use it; its Department is the one named after its first subject (else after its
  department org, else "General"), created when missing.
- class → Section: its course, the first of termSourcedIds (a grading period stands for its
  term), title → name, the first period when it is a number, location → room.
- user with a student role (or a student enrollment) at a school → Student (local_id from
  identifier, else sourcedId; grades → grade level), with a login (User + student Membership)
  when the row has an email; teacher / aide → teacher Membership, administrator /
  siteAdministrator / principal → school_admin, counselor → counselor; guardian / parent /
  relative → a guardian Membership and a Guardianship to each of their children (agentSourcedIds,
  read from either side), in the children's schools. Logins are unique by email and made with an
  unusable password: their owners activate them (mastery.accounts, the identity rule, which also
  decides whether an existing login may be taken in).
- enrollment student → Enrollment (beginDate → enrolled_on; an endDate before the term ends →
  withdrawn_on, since an endDate on the term's last day means "to the end", not "left"); teacher →
  SectionTeacher (primary → is_primary).

Access follows the SIS's dates and switches: a user row with enabledUser=false keeps its place on
the roster (student, enrollments, teaching, guardianships) but holds no membership in the schools
of the import, so that person cannot reach them; a role whose endDate has passed, or whose
beginDate has not come, grants nothing, and the membership it granted before is removed (unless a
current role row grants the same). Both come back by themselves when a later import says so. A
teacher's enrollment whose endDate has passed takes the teacher off the class.

status=tobedeleted withdraws and never deletes evidence: a student is made inactive and their
enrollments withdrawn; an enrollment is withdrawn (a teacher's removed); a class's enrollments are
withdrawn (the section stays); a user's memberships, guardianships and teaching assignments in the
school are removed; a role removes what it granted. Schools, terms and courses are never removed
by an import: sections and evidence hang on them.

Everything happens in one transaction, written stage by stage as the rows depend on each other;
when any row has a problem the transaction is rolled back, so nothing is written and every
problem is reported (with its file and line). A dry run takes the same path and always rolls back,
so its report is exactly what the import would do.

This module is the entry point only. Each stage is a module of functions over one `ImportState`
(`state`: what the package says, what earlier imports left, what the stages before built):
`schools`, `mappings`, `sessions`, `courses` (courses and classes), `people` (`roster`, `logins`,
`students`, `memberships`), `enrollments` and `deletions`; `upsert` writes their records.
"""

from __future__ import annotations

import logging
from collections.abc import Mapping
from datetime import date

from django.conf import settings
from django.db import IntegrityError, transaction
from django.utils import timezone

from gradebook.oneroster.courses import import_classes, import_courses
from gradebook.oneroster.deletions import apply_deletions
from gradebook.oneroster.enrollments import import_enrollments
from gradebook.oneroster.mappings import load_mappings, save_mappings
from gradebook.oneroster.parser import MANIFEST, SPECS, parse_package
from gradebook.oneroster.people import import_people
from gradebook.oneroster.report import ImportReport
from gradebook.oneroster.schools import resolve_district_schools, resolve_own_school
from gradebook.oneroster.sessions import import_sessions
from gradebook.oneroster.state import ImportState
from mastery import accounts, audit
from mastery.models import School
from mastery.tasks import activations_queue

log = logging.getLogger(__name__)


@audit.sourced("oneroster")
@transaction.atomic
def oneroster_import(
    *,
    files: Mapping[str, bytes],
    school: School | None,
    dry_run: bool = False,
    today: date | None = None,
    base_url: str | None = None,
) -> ImportReport:
    """Import a OneRoster 1.2 CSV package (file name → bytes); report what was (or would be) done.

    `school`: the one school to import into (the upload page, inside the request's scope): rows of
    other school orgs are skipped and counted, users and enrollments are taken only through this
    school's orgs and classes, and no school or district row is touched. None: every school org
    of the files (the command line, with scopes disabled), creating schools it has not met.
    Atomic: when any row has a problem nothing is written; a dry run never writes.

    Existing logins are taken in only as the identity rule allows (mastery.accounts). Once the
    import has committed, and only then, the new staff and students who have not signed in yet
    get their activation email, and people whose activated account got a new address are asked
    to confirm it from there; links point at `base_url` (default: the SITE_URL setting).
    """
    report = ImportReport(dry_run=dry_run)
    package = parse_package(files, report.errors, report.warnings)
    # Rows with problems of their own are left out (and their sourcedIds noted), so the checks
    # that need the database still run and report the other rows' problems too.
    if package.readable:
        state = ImportState(
            package=package,
            only=school,
            report=report,
            today=today or timezone.localdate(),
        )
        try:
            _run(state)
        except IntegrityError as exc:
            # Every row is checked against the database before its stage writes, so this is a
            # concurrent change (two imports at once, say): refuse the whole import.
            report.add_error(
                "", 0, f"The database refused a change ({exc}); nothing was imported. Try again."
            )
    order = {name: i for i, name in enumerate([MANIFEST, *SPECS])}
    report.errors.sort(key=lambda p: (order.get(p.file, -1), p.line))
    if not report.ok or dry_run:
        transaction.set_rollback(True)
    elif package.readable:
        _after_commit(state, base_url or settings.SITE_URL)
    return report


def _after_commit(state: ImportState, base_url: str) -> None:
    """Mail goes out only once the import is saved (a rolled-back import sends nothing)."""
    to_activate = sorted(state.to_activate)
    changes = list(state.email_changes)

    def send() -> None:
        activations_queue(user_ids=to_activate, base_url=base_url)
        for user, new_email in changes:
            try:
                accounts.email_change_request(
                    user=user, new_email=new_email, base_url=base_url, source="oneroster"
                )
            except OSError:  # the mail server: the next import asks again
                log.exception("Could not email %s to confirm a new address", new_email)

    transaction.on_commit(send)


def _run(state: ImportState) -> None:
    """The stages, in the order rows depend on each other."""
    if state.only is None:
        resolve_district_schools(state)
    else:
        resolve_own_school(state)
    if not state.schools:
        return
    load_mappings(state)
    import_sessions(state)
    import_courses(state)
    import_classes(state)
    plan = import_people(state)
    import_enrollments(state, plan)
    apply_deletions(state)
    save_mappings(state)
