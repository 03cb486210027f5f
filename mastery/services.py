"""Writes of the core: provisioning a school, the learning framework, API tokens.

The grading policy's own writes (a new version, a course override, its recompute) are in
grading/services.py."""

from __future__ import annotations

import csv
import io
import secrets
from dataclasses import dataclass, field
from decimal import Decimal

from django.core.exceptions import ValidationError
from django.db import transaction
from django.utils import timezone

from mastery import audit, pagecache
from mastery.models import (
    ApiToken,
    AuditEvent,
    Competency,
    Department,
    GradingPolicy,
    LearningTarget,
    LevelDescriptor,
    ProficiencyScale,
    ScaleLevel,
    School,
    User,
)
from mastery.standards.alignments import split_identifiers, target_align
from mastery.standards.selectors import items_by_identifier

DEFAULT_LEVELS = (
    # value, label, Spanish label, cut-off, colour (chosen for contrast with black text)
    ("1", "Beginning", "Inicial", "1", "#f4b6a6"),
    ("2", "Developing", "En desarrollo", "2", "#f6dd8b"),
    ("3", "Proficient", "Competente", "3", "#a8d5a2"),
    ("4", "Advanced", "Avanzado", "3.5", "#8fc1e8"),
)
DEFAULT_HABIT_LEVELS = (
    ("1", "Rarely", "Casi nunca", "1", "#f4b6a6"),
    ("2", "Sometimes", "A veces", "2", "#f6dd8b"),
    ("3", "Usually", "Casi siempre", "3", "#a8d5a2"),
    ("4", "Consistently", "Siempre", "3.5", "#8fc1e8"),
)


@transaction.atomic
def school_provision(*, school: School, allows_half_points: bool = True) -> None:
    """Give a new school the default 4-point scale, a habits scale and a default policy.

    Idempotent: what exists already is left alone.
    """
    for kind, name, levels in (
        (ProficiencyScale.Kind.ACHIEVEMENT, "4-point mastery scale", DEFAULT_LEVELS),
        (ProficiencyScale.Kind.HABITS, "Habits of work", DEFAULT_HABIT_LEVELS),
    ):
        scale, created = ProficiencyScale.objects.get_or_create(
            school=school,
            kind=kind,
            defaults={
                "name": name,
                "allows_half_points": allows_half_points
                and kind == ProficiencyScale.Kind.ACHIEVEMENT,
            },
        )
        if created:
            ScaleLevel.objects.bulk_create(
                ScaleLevel(
                    school=school,
                    scale=scale,
                    value=Decimal(value),
                    label=label,
                    label_es=label_es,
                    cutoff=Decimal(cutoff),
                    color=color,
                )
                for value, label, label_es, cutoff, color in levels
            )
            audit.record(
                school=school,
                action=AuditEvent.Action.CREATE,
                object_type=AuditEvent.ObjectType.SCALE,
                object_id=scale.id,
                after=audit.scale_state(scale),
                summary=f"{scale.name}: the default levels",
            )
    if not GradingPolicy.objects.filter(school=school, course__isnull=True).exists():
        policy = GradingPolicy.objects.create(
            school=school, version=1, note="Initial school policy"
        )
        audit.record(
            school=school,
            action=AuditEvent.Action.CREATE,
            object_type=AuditEvent.ObjectType.POLICY,
            object_id=policy.id,
            after=audit.policy_state(policy),
            summary="School policy v1 (the defaults)",
        )


# --- The learning framework ------------------------------------------------------------------------

DESCRIPTOR_LEVELS = (Decimal(1), Decimal(2), Decimal(3), Decimal(4))


@transaction.atomic
def competency_save(
    *,
    school: School,
    department: Department,
    competency: Competency | None = None,
    code: str,
    name: str,
    kind: str = "content",
    description: str = "",
    saved_by: User | None = None,
) -> Competency:
    """Create or edit a competency; a change is one audit event."""

    code, name = (code or "").strip(), (name or "").strip()
    errors = {}
    if not code:
        errors["code"] = ["Give the competency a short code."]
    if not name:
        errors["name"] = ["Give the competency a name."]
    if kind not in Competency.Kind.values:
        errors["kind"] = ["Choose content area or cross-curricular."]
    clash = Competency.objects.filter(school=school, code=code).exclude(
        # Django reads pk=None as IS NULL; the plugin's lookup check refuses None.
        pk=getattr(competency, "pk", None)  # type: ignore[misc]
    )
    if code and clash.exists():
        errors["code"] = [f"Another competency already uses the code {code}."]
    if errors:
        raise ValidationError(errors)
    before = audit.competency_state(competency)
    if competency is None:
        position = Competency.objects.filter(school=school, department=department).count()
        competency = Competency(school=school, department=department, position=position)
    competency.code, competency.name, competency.kind = code[:40], name[:200], kind
    competency.description = (description or "").strip()
    after = audit.competency_state(competency)
    if after == before:
        return competency  # saved unchanged: nothing to write, nothing to record
    pagecache.school_changed(school.id)  # target lists show their competency
    competency.save()
    audit.record(
        school=school,
        action=AuditEvent.Action.CREATE if before is None else AuditEvent.Action.UPDATE,
        object_type=AuditEvent.ObjectType.COMPETENCY,
        object_id=competency.id,
        actor=saved_by,
        before=before,
        after=after,
        summary=f"{competency.code} {competency.name}",
    )
    return competency


@transaction.atomic
def target_save(
    *,
    school: School,
    department: Department,
    target: LearningTarget | None = None,
    competency: Competency | None,
    code: str,
    statement: str,
    standard_code: str = "",
    subject: str = "",
    dok_level: int | None = None,
    descriptors: dict | None = None,
    case_identifiers: list[str] | None = None,
    saved_by: User | None = None,
) -> LearningTarget:
    """Create or edit a learning target with its "I can…" descriptor for each level, and, when
    `case_identifiers` is given, make those the standards it is aligned to (`target_align`: a
    refused identifier refuses the whole save)."""
    pagecache.school_changed(school.id)  # statements and descriptors

    code, statement = (code or "").strip(), (statement or "").strip()
    errors = {}
    if competency is None or competency.school_id != school.id:
        errors["competency"] = ["Choose a competency of this school."]
    if not code:
        errors["code"] = ["Give the target a short code, e.g. ALG.F1."]
    elif len(code) > 40:
        errors["code"] = ["Keep the code to 40 characters."]
    elif (
        LearningTarget.objects.filter(school=school, code=code)
        # Django reads pk=None as IS NULL; the plugin's lookup check refuses None.
        .exclude(pk=getattr(target, "pk", None))  # type: ignore[misc]
        .exists()
    ):
        errors["code"] = [f"Another learning target already uses the code {code}."]
    if not statement:
        errors["statement"] = ["Write the target as a student-facing statement: “I can …”."]
    elif len(statement) > 500:
        errors["statement"] = ["Keep the statement under 500 characters."]
    if dok_level not in (None, 1, 2, 3, 4):
        errors["dok_level"] = ["Depth of Knowledge is 1, 2, 3 or 4."]
    if errors:
        raise ValidationError(errors)
    assert competency is not None  # refused above
    texts = audit.descriptor_texts(target) if target is not None else {}
    before = audit.target_state(target, descriptors=texts)
    if target is None:
        position = LearningTarget.objects.filter(school=school, competency=competency).count()
        target = LearningTarget(school=school, position=position)
    target.competency, target.department = competency, department
    target.code, target.statement = code, statement
    target.standard_code, target.subject = (
        (standard_code or "").strip()[:80],
        (subject or "").strip()[:80],
    )
    target.dok_level = dok_level
    target.save()
    for level, text in (descriptors or {}).items():
        text = (text or "").strip()
        level = Decimal(level)
        if text:
            LevelDescriptor.objects.update_or_create(
                school=school, target=target, level_value=level, defaults={"text": text}
            )
            texts[level] = text
        else:
            LevelDescriptor.objects.filter(school=school, target=target, level_value=level).delete()
            texts.pop(level, None)
    after = audit.target_state(target, descriptors=texts)
    if after != before:
        audit.record(
            school=school,
            action=AuditEvent.Action.UPDATE if before else AuditEvent.Action.CREATE,
            object_type=AuditEvent.ObjectType.TARGET,
            object_id=target.id,
            target_id=target.id,
            actor=saved_by,
            before=before,
            after=after,
            summary=f"{target.code}: {target.statement}",
        )
    if case_identifiers is not None:
        target_align(
            school=school, target=target, identifiers=case_identifiers, aligned_by=saved_by
        )
    return target


@transaction.atomic
def target_move(
    *, school: School, target: LearningTarget, direction: str, moved_by: User | None = None
) -> None:
    """Move a target up or down among its competency's targets (positions renumbered 0..n)."""
    pagecache.school_changed(school.id)  # statements and descriptors

    siblings = list(
        LearningTarget.objects.filter(school=school, competency_id=target.competency_id).order_by(
            "position", "code"
        )
    )
    index = next(i for i, t in enumerate(siblings) if t.pk == target.pk)
    swap = index - 1 if direction == "up" else index + 1
    if 0 <= swap < len(siblings):
        siblings[index], siblings[swap] = siblings[swap], siblings[index]
    for position, sibling in enumerate(siblings):
        if sibling.position != position:
            LearningTarget.objects.filter(pk=sibling.pk).update(position=position)
            if sibling.pk == target.pk:
                audit.record(
                    school=school,
                    action=AuditEvent.Action.MOVE,
                    object_type=AuditEvent.ObjectType.TARGET,
                    object_id=target.pk,
                    target_id=target.pk,
                    actor=moved_by,
                    before={"position": sibling.position},
                    after={"position": position},
                    summary=f"{target.code} moved {direction} among its competency's targets",
                )


@dataclass
class ImportReport:
    created: int = 0
    updated: int = 0
    competencies_created: int = 0
    errors: list[tuple[int, str]] = field(default_factory=list)

    @property
    def ok(self) -> bool:
        return not self.errors


CSV_COLUMNS = {
    "competency": ("competency",),
    "code": ("target code", "code", "target"),
    "statement": ("statement", "target statement", "i can"),
    "standard_code": ("standard code", "standard"),
    "d1": ("descriptor 1", "level 1", "1"),
    "d2": ("descriptor 2", "level 2", "2"),
    "d3": ("descriptor 3", "level 3", "3"),
    "d4": ("descriptor 4", "level 4", "4"),
}
# Optional columns: absent, nothing of the kind changes.
CSV_OPTIONAL_COLUMNS = {
    "case_identifiers": ("case_identifiers", "case identifiers", "case items"),
}
MAX_IMPORT_ROWS = 2000


@audit.sourced("import")
def targets_import_csv(
    *,
    school: School,
    department: Department,
    data: bytes,
    dry_run: bool = False,
    imported_by: User | None = None,
) -> ImportReport:
    """Import a department's targets from CSV; every bad row is reported and then nothing is written.

    Columns (header row, any order, case-insensitive): competency, target code, statement,
    standard code, descriptor 1-4, and optionally case_identifiers (the CASE identifiers of the
    standards the target is aligned to, separated by spaces or semicolons; an empty cell leaves
    it aligned to none). A target is matched by its code (updated), otherwise created; a
    competency is matched by code or name in the department, otherwise created.
    """

    report = ImportReport()
    try:
        text = data.decode("utf-8-sig")
    except UnicodeDecodeError:
        report.errors.append(
            (0, "The file is not UTF-8 text. Save it as “CSV UTF-8” and try again.")
        )
        return report
    if "\x00" in text:  # PostgreSQL text cannot hold it; usually a spreadsheet saved wrongly
        line = text.count("\n", 0, text.index("\x00")) + 1
        report.errors.append(
            (line, "The file holds a NUL character (binary data): save it as “CSV UTF-8”.")
        )
        return report
    # Keep each record's first physical line, so messages point at the line people see in an editor.
    numbered: list[tuple[int, list[str]]] = []
    reader = csv.reader(io.StringIO(text, newline=""))
    try:
        previous_end = 0
        for record in reader:
            if any(cell.strip() for cell in record):
                numbered.append((previous_end + 1, record))
            previous_end = reader.line_num
    except csv.Error as exc:
        report.errors.append((reader.line_num, f"The file is not valid CSV: {exc}."))
        return report
    rows = [record for _, record in numbered]
    if not rows:
        report.errors.append((0, "The file is empty."))
        return report
    header = [h.strip().lower() for h in rows[0]]
    columns = {}
    for key, names in CSV_COLUMNS.items():
        for name in names:
            if name in header:
                columns[key] = header.index(name)
                break
    missing = [names[0] for key, names in CSV_COLUMNS.items() if key not in columns]
    for key, names in CSV_OPTIONAL_COLUMNS.items():
        for name in names:
            if name in header:
                columns[key] = header.index(name)
                break
    if missing:
        report.errors.append(
            (1, f"Missing column{'s' if len(missing) > 1 else ''}: {', '.join(missing)}.")
        )
        return report
    if len(rows) - 1 > MAX_IMPORT_ROWS:
        report.errors.append((0, f"At most {MAX_IMPORT_ROWS} targets per file."))
        return report

    competencies = {
        c.code.lower(): c for c in Competency.objects.filter(school=school, department=department)
    }
    competencies.update({c.name.lower(): c for c in competencies.values()})
    existing = {t.code: t for t in LearningTarget.objects.filter(school=school)}
    aligning = "case_identifiers" in columns
    standards = {}
    if aligning:
        index = columns["case_identifiers"]
        standards = items_by_identifier(
            school,
            [
                identifier
                for _, row in numbered[1:]
                if index < len(row)
                for identifier in split_identifiers(row[index])
            ],
        )
    seen: dict[str, int] = {}
    parsed = []
    for line, row in numbered[1:]:

        def cell(key: str, row: list[str] = row) -> str:
            index = columns[key]
            return row[index].strip() if index < len(row) else ""

        problems = []
        if len(row) > len(header):
            problems.append("more cells than the header has columns")
        competency_name, code, statement = cell("competency"), cell("code"), cell("statement")
        if not competency_name:
            problems.append("the competency is empty")
        if not code:
            problems.append("the target code is empty")
        elif len(code) > 40:
            problems.append("the target code is longer than 40 characters")
        elif code in seen:
            problems.append(f"the target code {code} is also on line {seen[code]}")
        if not statement:
            problems.append("the statement is empty")
        elif len(statement) > 500:
            problems.append("the statement is longer than 500 characters")
        if len(cell("standard_code")) > 80:
            problems.append("the standard code is longer than 80 characters")
        other = existing.get(code)
        if other is not None and other.department_id not in (None, department.id):
            problems.append(f"the code {code} belongs to a target of another department")
        identifiers = split_identifiers(cell("case_identifiers")) if aligning else None
        for identifier in identifiers or ():
            item = standards.get(identifier.lower())
            if item is None:
                problems.append(
                    f"the CASE identifier {identifier} is not a standard of a framework "
                    "this school uses"
                )
            elif item.is_retired and not (
                other is not None
                and other.standard_alignments.filter(school=school, item=item).exists()
            ):
                problems.append(f"the standard {item.human_coding_scheme or identifier} is retired")
        if code:
            seen.setdefault(code, line)
        if problems:
            message = "; ".join(problems)
            report.errors.append((line, message[0].upper() + message[1:] + "."))
            continue
        parsed.append(
            (
                competency_name,
                code,
                statement,
                cell("standard_code"),
                [cell(f"d{i}") for i in range(1, 5)],
                identifiers,
            )
        )
    if report.errors or dry_run:
        return report

    with transaction.atomic():
        for competency_name, code, statement, standard, descriptors, identifiers in parsed:
            competency = competencies.get(competency_name.lower())
            if competency is None:
                base = "".join(ch for ch in competency_name.upper() if ch.isalnum())[:24] or "COMP"
                competency_code, n = f"{department.code or 'DEPT'}-{base}"[:40], 1
                while Competency.objects.filter(school=school, code=competency_code).exists():
                    n += 1
                    competency_code = f"{department.code or 'DEPT'}-{base}"[:36] + f"-{n}"
                competency = competency_save(
                    school=school,
                    department=department,
                    code=competency_code,
                    name=competency_name,
                    saved_by=imported_by,
                )
                competencies[competency_name.lower()] = competency
                report.competencies_created += 1
            target = existing.get(code)
            target_save(
                school=school,
                department=department,
                target=target,
                competency=competency,
                code=code,
                statement=statement,
                standard_code=standard,
                subject=department.name,
                dok_level=target.dok_level if target else None,
                case_identifiers=identifiers,
                saved_by=imported_by,
                descriptors={
                    lv: text
                    for lv, text in zip(DESCRIPTOR_LEVELS, descriptors, strict=True)
                    if text
                },
            )
            if target is None:
                report.created += 1
            else:
                report.updated += 1
    return report


# --- API tokens ------------------------------------------------------------------------------------


@transaction.atomic
def api_token_create(*, school: School, user: User, name: str) -> tuple[ApiToken, str]:
    """Make a token for the user in this school; returns it with the secret, shown only once."""
    name = (name or "").strip()
    if not name:
        raise ValidationError({"name": ["Name the token after what will use it."]})
    if len(name) > 80:
        raise ValidationError({"name": ["Keep the name under 80 characters."]})
    if ApiToken.objects.filter(school=school, user=user, revoked_at__isnull=True).count() >= 20:
        raise ValidationError({"name": ["You already have 20 active tokens; revoke one first."]})
    raw = f"{ApiToken.PREFIX}_{secrets.token_urlsafe(32)}"
    token = ApiToken.objects.create(
        school=school, user=user, name=name, key_prefix=raw[:10], digest=ApiToken.digest_of(raw)
    )
    return token, raw


@transaction.atomic
def api_token_revoke(*, school: School, user: User, token_id: int) -> ApiToken:
    """Revoke one of the user's own tokens in this school (idempotent)."""
    token = (
        ApiToken.objects.select_for_update().filter(school=school, user=user, id=token_id).first()
    )
    if token is None:
        raise ApiToken.DoesNotExist
    if token.revoked_at is None:
        token.revoked_at = timezone.now()
        token.save(update_fields=["revoked_at"])
    return token
