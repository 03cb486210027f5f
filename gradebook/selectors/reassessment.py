"""Reassessment requests against the rules: whether a request on a target meets the course's
rules today (what the request page shows before anything is sent).

`request_check` is the one place the rules (grading.rules) are applied to a request: the portal's
page shows its lines, the request service refuses on its verdict, and the API answers with it.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from datetime import date, timedelta

from django.db.models import Q
from django.utils.translation import gettext as _

from gradebook.extensions import practice_dates
from gradebook.models import (
    AssessmentKind,
    Course,
    Enrollment,
    Evidence,
    GradingPeriod,
    ReassessmentRequest,
    ReassessmentRule,
    Section,
    Student,
)
from grading.rules import day_text, rules_for
from mastery.models import LearningTarget, School

# Who is asking: the student, one of their family, or a teacher noting it for the student.
BY_STUDENT, BY_FAMILY, BY_TEACHER = "student", "family", "teacher"
REQUESTERS = (BY_STUDENT, BY_FAMILY, BY_TEACHER)
# Attempts that can be retaken: practice (formative, pre-assessment) is what comes before one.
PRACTICE_KINDS = (AssessmentKind.FORMATIVE, AssessmentKind.PRE)


def next_school_day(today: date) -> date:
    """The day a reassessment is offered by default: the next weekday after today."""
    day = today + timedelta(days=1)
    while day.weekday() >= 5:
        day += timedelta(days=1)
    return day


@dataclass
class RuleLine:
    """One rule applied to one request: its words and whether it is met."""

    text: str
    met: bool

    def as_dict(self) -> dict:
        return {"rule": self.text, "met": self.met}


@dataclass
class RequestCheck:
    """Whether a request on a target may be made today, rule by rule."""

    student: Student
    target: LearningTarget
    section: Section | None
    rule: ReassessmentRule
    period: GradingPeriod | None
    lines: list[RuleLine] = field(default_factory=list)
    attempt: Evidence | None = None
    live: ReassessmentRequest | None = None
    opens_on: date | None = None  # the first day the window allows, when that is what is missing

    @property
    def allowed(self) -> bool:
        return self.section is not None and all(line.met for line in self.lines)

    @property
    def broken(self) -> list[str]:
        return [line.text for line in self.lines if not line.met]

    @property
    def course(self) -> Course | None:
        return self.section.course if self.section is not None else None


def _requester_line(rule: ReassessmentRule, by: str) -> RuleLine:
    if by == BY_FAMILY:
        return RuleLine(
            _("Families may ask for a reassessment.")
            if rule.families_may_request
            else _("In this course, families cannot ask for a reassessment: the student asks."),
            rule.families_may_request,
        )
    if by == BY_TEACHER:
        return RuleLine(
            _("Teachers may note a request for a student.")
            if rule.teachers_may_request
            else _("In this course, requests come from students, not from teachers."),
            rule.teachers_may_request,
        )
    return RuleLine(
        _("Students may ask for a reassessment.")
        if rule.students_may_request
        else _("In this course, students do not ask: the teacher arranges reassessments."),
        rule.students_may_request,
    )


def target_section(*, school: School, student: Student, target_id: int) -> Section | None:
    """The student's current section whose course teaches the target (archived sections and
    withdrawn enrolments are past)."""
    enrollment = (
        Enrollment.objects.filter(
            school=school,
            student=student,
            withdrawn_on__isnull=True,
            section__archived_at__isnull=True,
            section__course__course_targets__target_id=target_id,
        )
        .select_related("section__course", "section__term")
        .order_by("-section__term__starts_on", "section_id")
        .first()
    )
    return enrollment.section if enrollment is not None else None


def period_on(*, school: School, section: Section, day: date) -> GradingPeriod | None:
    return GradingPeriod.objects.filter(
        school=school, term_id=section.term_id, starts_on__lte=day, ends_on__gte=day
    ).first()


def request_check(
    *, school: School, student: Student, target: LearningTarget, by: str, today: date
) -> RequestCheck:
    """Apply the course's rules to a request by `by` on `target`, as of `today`."""
    section = target_section(school=school, student=student, target_id=target.id)
    rule = rules_for(school, section.course_id if section else None)
    if section is None:
        check = RequestCheck(student, target, None, rule, None)
        check.lines.append(
            RuleLine(_("This learning target is not part of a current course."), False)
        )
        return check
    period = period_on(school=school, section=section, day=today)
    check = RequestCheck(student, target, section, rule, period)
    lines = check.lines
    lines.append(_requester_line(rule, by))

    check.live = (
        ReassessmentRequest.objects.filter(
            school=school, student=student, target=target, status__in=ReassessmentRequest.LIVE
        )
        .order_by("-created_at")
        .first()
    )
    if check.live is not None:
        lines.append(
            RuleLine(
                _("A request on this target is already %(status)s (sent %(day)s).")
                % {
                    "status": check.live.get_status_display().lower(),
                    "day": day_text(check.live.created_at.date()),
                },
                False,
            )
        )
    else:
        lines.append(RuleLine(_("No other request on this target is waiting."), True))

    evidence = Evidence.objects.filter(
        school=school,
        student=student,
        target=target,
        voided_at__isnull=True,
        assessment__course_id=section.course_id,
    )
    check.attempt = (
        evidence.exclude(kind__in=PRACTICE_KINDS).order_by("-assessed_on", "-id").first()
        or evidence.order_by("-assessed_on", "-id").first()
    )
    attempt = check.attempt
    if attempt is None:
        lines.append(RuleLine(_("There is no attempt on this target to retake yet."), False))
    else:
        opens = attempt.assessed_on + timedelta(days=rule.min_days_after)
        if rule.min_days_after:
            ok = today >= opens
            if not ok:
                check.opens_on = opens
            lines.append(
                RuleLine(
                    _("At least %(n)s days after the attempt of %(day)s: met.")
                    % {"n": rule.min_days_after, "day": day_text(attempt.assessed_on)}
                    if ok
                    else _("Too soon after the attempt of %(day)s: you can ask from %(opens)s.")
                    % {"day": day_text(attempt.assessed_on), "opens": day_text(opens)},
                    ok,
                )
            )
        if rule.requires_practice:
            since = attempt.assessed_on
            practice = (
                evidence.filter(kind__in=PRACTICE_KINDS, assessed_on__gte=since)
                .exclude(id=attempt.id)
                .order_by("-assessed_on")
                .values_list("assessed_on", flat=True)
                .first()
            )
            sessions = practice_dates(school=school, student=student, target=target, since=since)
            done = practice or (max(sessions) if sessions else None)
            lines.append(
                RuleLine(
                    _("Practice since the attempt: done on %(day)s.") % {"day": day_text(done)}
                    if done
                    else _(
                        "Practice first: no practice score or intervention session on this target "
                        "since the attempt of %(day)s."
                    )
                    % {"day": day_text(since)},
                    done is not None,
                )
            )

    if rule.max_per_period:
        used_q = Q(school=school, student=student, target=target, voided_at__isnull=True)
        used_q &= Q(kind=AssessmentKind.REASSESSMENT)
        if period is not None:
            used_q &= Q(assessed_on__gte=period.starts_on, assessed_on__lte=period.ends_on)
        else:
            used_q &= Q(
                assessed_on__gte=section.term.starts_on, assessed_on__lte=section.term.ends_on
            )
        used = Evidence.objects.filter(used_q).count()
        ok = used < rule.max_per_period
        lines.append(
            RuleLine(
                _("Reassessments on this target this grading period: %(used)s of %(max)s.")
                % {"used": used, "max": rule.max_per_period},
                ok,
            )
        )

    ends = period.ends_on if period is not None else section.term.ends_on
    closes = ends - timedelta(days=rule.closes_days_before_end)
    outside_term = not section.term.contains(today)
    ok = not outside_term and today <= closes
    lines.append(
        RuleLine(
            _("Requests for this grading period are open until %(day)s.")
            % {"day": day_text(closes)}
            if ok
            else (
                _("The term is not in session: requests are closed.")
                if outside_term
                else _("Requests for this grading period closed on %(day)s.")
                % {"day": day_text(closes)}
            ),
            ok,
        )
    )
    return check


def as_rule_lines(values: list[dict]) -> list[RuleLine]:
    """A request's stored `rules` back as lines (tolerating older shapes)."""
    return [
        RuleLine(str(v.get("rule", "")), bool(v.get("met"))) for v in values if isinstance(v, dict)
    ]
