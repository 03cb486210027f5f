"""Reassessment rules: which rules govern a course, and the rules in words.

The rules are the school's `ReassessmentRule` (no course) unless the course has its own; a school
that never set any has the model's defaults (an unsaved rule), so every school states rules: on
the policy page, the portal and the progress report. Applying them to a request is the
gradebook's (gradebook.selectors.reassessment.request_check); setting them, grading.services.
"""

from __future__ import annotations

from datetime import date

from django.utils import formats
from django.utils.translation import gettext as _
from django.utils.translation import ngettext

from gradebook.models import ReassessmentRule
from grading.policies import policy_for_course
from mastery import calculation
from mastery.models import GradingPolicy, School


def school_rules(school: School) -> ReassessmentRule:
    """The school's own rules (the defaults, unsaved, until an admin sets them)."""
    found = ReassessmentRule.objects.filter(school=school, course__isnull=True).first()
    return found or ReassessmentRule(school=school)


def rules_for(school: School, course_id: int | None) -> ReassessmentRule:
    """The rules of a course: its own if it has them, else the school's."""
    if course_id is not None:
        own = ReassessmentRule.objects.filter(school=school, course_id=course_id).first()
        if own is not None:
            return own
    return school_rules(school)


def rules_index(school: School) -> dict[int | None, ReassessmentRule]:
    """Every rule of the school by course (None: the school's), in one query."""
    return {r.course_id: r for r in ReassessmentRule.objects.filter(school=school)}


def rules_in(
    index: dict[int | None, ReassessmentRule], school: School, course_id: int
) -> ReassessmentRule:
    """A course's rules from `rules_index` (the defaults when the school set none)."""
    return index.get(course_id) or index.get(None) or ReassessmentRule(school=school)


def course_rules(school: School) -> list[ReassessmentRule]:
    """The courses that have rules of their own."""
    return list(
        ReassessmentRule.objects.filter(school=school, course__isnull=False)
        .select_related("course")
        .order_by("course__code")
    )


def day_text(value: date) -> str:
    """A date as the rules' sentences write it, in the active language."""
    return formats.date_format(value, "DATE_FORMAT")


def replacement_sentence(policy: GradingPolicy) -> str:
    """What a reassessment's score does to the level, by the policy's calculation method (the
    engine is the same for every score: a reassessment is one more piece of evidence)."""
    method = policy.method
    methods = GradingPolicy.Method
    weight = calculation.fmt(policy.weight)
    sentences: dict[str, str] = {
        methods.LATEST: _(
            "The new score replaces the earlier ones: the level is the most recent score."
        ),
        methods.HIGHEST: _("The new score counts if it is higher: the level is the highest score."),
        methods.MEAN: _("The new score is added to the earlier ones: the level is their average."),
        methods.MEDIAN: _("The new score is added to the earlier ones: the level is their median."),
        methods.MODE: _(
            "The new score is added to the earlier ones: the level is the most frequent score."
        ),
        methods.DECAYING_AVERAGE: _(
            "The new score counts most: it weighs %(weight)s%% against everything before it."
        )
        % {"weight": weight},
        methods.WEIGHTED_AVERAGE: _(
            "The new score counts most: the newest score weighs %(weight)s%%."
        )
        % {"weight": weight},
        methods.N_TIMES: ngettext(
            "A new score at mastery counts toward the %(n)s time needed.",
            "A new score at mastery counts toward the %(n)s times needed.",
            policy.n,
        )
        % {"n": policy.n},
        methods.POWER_LAW: _("The new score extends the trend the level is read from."),
    }
    sentence = sentences.get(method, "")
    if policy.recent and method not in (methods.LATEST, methods.N_TIMES):
        sentence += " " + ngettext(
            "Only the last %(n)s score counts.", "Only the last %(n)s scores count.", policy.recent
        ) % {"n": policy.recent}
    return sentence


def rules_statement(rule: ReassessmentRule, policy: GradingPolicy | None = None) -> list[str]:
    """The rules in words, one sentence each, in the active language (policy page, portal, report)."""
    who = [
        label
        for allowed, label in (
            (rule.students_may_request, _("students")),
            (rule.families_may_request, _("families")),
            (rule.teachers_may_request, _("teachers, for a student")),
        )
        if allowed
    ]
    lines = [
        _("Who may ask for a reassessment: %(who)s.") % {"who": ", ".join(who)}
        if who
        else _("Reassessments are arranged by the teacher; nobody asks for them here.")
    ]
    if rule.requires_practice:
        lines.append(
            _(
                "First, practise: since the last attempt, a practice score on the target or an "
                "intervention session on it attended."
            )
        )
    if rule.max_per_period:
        lines.append(
            ngettext(
                "At most %(n)s reassessment per target in each grading period.",
                "At most %(n)s reassessments per target in each grading period.",
                rule.max_per_period,
            )
            % {"n": rule.max_per_period}
        )
    else:
        lines.append(_("No limit on reassessments per target in a grading period."))
    if rule.min_days_after:
        lines.append(
            ngettext(
                "Not within %(n)s day of the attempt being retaken.",
                "Not within %(n)s days of the attempt being retaken.",
                rule.min_days_after,
            )
            % {"n": rule.min_days_after}
        )
    if rule.closes_days_before_end:
        lines.append(
            ngettext(
                "Requests close %(n)s day before the grading period ends.",
                "Requests close %(n)s days before the grading period ends.",
                rule.closes_days_before_end,
            )
            % {"n": rule.closes_days_before_end}
        )
    else:
        lines.append(_("Requests close when the grading period ends."))
    lines.append(
        ngettext(
            "A scheduled reassessment not taken within %(n)s day of its date expires.",
            "A scheduled reassessment not taken within %(n)s days of its date expires.",
            rule.expires_after_days,
        )
        % {"n": rule.expires_after_days}
    )
    if policy is not None:
        lines.append(replacement_sentence(policy))
    if rule.note:
        lines.append(rule.note)
    return lines


def course_statement(school: School, course_id: int) -> list[str]:
    return rules_statement(
        rules_for(school, course_id), policy_for_course(school=school, course_id=course_id)
    )
