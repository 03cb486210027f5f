"""Results in plain words, in the reader's language.

The engine explains itself in English (its explanation is stored with every Mastery record and
shown to staff). Families read the same facts here, put together from the record's numbers with
Django's translation machinery, so the Spanish report says the same thing as the English one.
"""

from __future__ import annotations

from decimal import Decimal
from typing import Protocol

from django.utils.translation import gettext as _
from django.utils.translation import ngettext

from mastery import calculation
from mastery.models import GradingPolicy
from mastery.templatetags.mastery_tags import fmt


class Explained(Protocol):
    """What the sentences read of a record: a Mastery row, or the report's lighter ReportRecord."""

    @property
    def score(self) -> Decimal | None: ...
    @property
    def evidence_count(self) -> int: ...
    @property
    def scores_counted(self) -> int: ...


def method_words(policy: GradingPolicy) -> str:
    weight = fmt(policy.weight)
    return {
        "latest": _("the most recent score"),
        "highest": _("the highest score"),
        "mean": _("the average of the scores"),
        "decaying_average": _("a decaying average (each new score counts %(weight)s%%)")
        % {"weight": weight},
        "weighted_average": _("a weighted average (the newest score counts %(weight)s%%)")
        % {"weight": weight},
        "n_times": _("the average of the scores at mastery, once mastery is shown %(n)s times")
        % {"n": policy.n},
        "power_law": _("the trend of the scores (power law)"),
        "mode": _("the most frequent score"),
        "median": _("the median score"),
    }[policy.method]


def record_sentence(record: Explained | None, policy: GradingPolicy) -> str:
    """One sentence on how the level was reached, e.g. for the report and the family portal."""
    if record is None or record.evidence_count == 0:
        return _("No evidence yet.")
    if record.score is None:
        return ngettext(
            "Not enough evidence yet (%(count)s score counted).",
            "Not enough evidence yet (%(count)s scores counted).",
            record.scores_counted,
        ) % {"count": record.scores_counted}
    return ngettext(
        "From %(count)s score, using %(method)s: %(score)s.",
        "From %(count)s scores, using %(method)s: %(score)s.",
        record.scores_counted,
    ) % {"count": record.scores_counted, "method": method_words(policy), "score": fmt(record.score)}


def _family_how(policy: GradingPolicy) -> str:
    return {
        "latest": _("the most recent one counts"),
        "highest": _("the best one counts"),
        "mean": _("they all count the same"),
        "decaying_average": _("the most recent ones count the most"),
        "weighted_average": _("the most recent ones count the most"),
        "n_times": _("the level counts once the skill has been shown %(n)s times")
        % {"n": policy.n},
        "power_law": _("the level follows where they are heading"),
        "mode": _("the one reached most often counts"),
        "median": _("the middle one counts"),
    }[policy.method]


def family_sentence(record: Explained | None, policy: GradingPolicy) -> str:
    """How the level was reached, in a parent's words: no method's name, no arithmetic.

    Families read this under every target; `record_sentence` (the method, the weight, the
    score) is one tap away on the page, for whoever wants the calculation.
    """
    if record is None or record.evidence_count == 0 or record.score is None:
        return record_sentence(record, policy)  # already plain: no evidence, not enough yet
    basis = ngettext(
        "Based on %(count)s score", "Based on %(count)s scores", record.scores_counted
    ) % {"count": record.scores_counted}
    return _("%(basis)s: %(how)s.") % {"basis": basis, "how": _family_how(policy)}


def grade_sentence(grade: calculation.CourseGrade, policy: GradingPolicy) -> str:
    """The course grade and how it was computed, in one plain sentence."""
    if grade.letter is None:
        return _("No course grade yet: no learning target has enough evidence.")
    if policy.course_grade_rule == "threshold_count":
        text = ngettext(
            "%(letter)s: %(mastered)s of %(count)s learning target is at mastery or above.",
            "%(letter)s: %(mastered)s of %(count)s learning targets are at mastery or above.",
            grade.targets_counted,
        ) % {"letter": grade.letter, "mastered": grade.mastered, "count": grade.targets_counted}
    else:
        text = ngettext(
            "%(letter)s: the average of %(count)s learning target is %(mean)s.",
            "%(letter)s: the average of %(count)s learning targets is %(mean)s.",
            grade.targets_counted,
        ) % {"letter": grade.letter, "count": grade.targets_counted, "mean": fmt(grade.mean)}
    if grade.targets_without_level:
        text += " " + ngettext(
            "%(count)s target without enough evidence is not counted yet.",
            "%(count)s targets without enough evidence are not counted yet.",
            grade.targets_without_level,
        ) % {"count": grade.targets_without_level}
    return text
