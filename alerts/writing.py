"""The words of one mail, in the person's language.

Private by default: a family's mail says what kind of news there is about which child and links
to the portal; the assessment, the score and the teacher's words appear only for a person who
turned `details` on. A staff member's mail names no student: it says how many requests wait and
links to the gradebook.
"""

from __future__ import annotations

from collections import defaultdict
from dataclasses import dataclass
from datetime import date
from urllib.parse import urljoin

from django.conf import settings
from django.core import signing
from django.urls import reverse
from django.utils import translation
from django.utils.formats import date_format
from django.utils.translation import gettext as _
from django.utils.translation import ngettext

from alerts.models import AlertItem, Frequency
from alerts.preferences import FAMILY_KINDS, Choices
from gradebook.models import EvidenceStatus, ReassessmentRequest, Student
from mastery.models import AlertEvent, School, User

Kind = AlertEvent.Kind
UNSUBSCRIBE_SALT = "alerts.unsubscribe"


@dataclass(frozen=True)
class Mail:
    language: str
    frequency: str  # a mail holding any summary item is that summary (the longest); else right away
    subject: str
    body: str


def site_url(path: str) -> str:
    return urljoin(settings.SITE_URL.rstrip("/") + "/", path.lstrip("/"))


def unsubscribe_token(user_id: int) -> str:
    """The person's own stop link: signed, not timed (an old mail's link still works), the same
    in the body and the List-Unsubscribe header."""
    return signing.Signer(salt=UNSUBSCRIBE_SALT).sign(str(user_id))


def unsubscribe_user_id(token: str) -> int | None:
    """The person a one-click unsubscribe link names, or None if it was not made here."""
    try:
        value = signing.Signer(salt=UNSUBSCRIBE_SALT).unsign(token)
    except signing.BadSignature:
        return None
    return int(value) if value.isdigit() else None


def unsubscribe_url(user_id: int) -> str:
    return site_url(reverse("alerts:unsubscribe", args=[unsubscribe_token(user_id)]))


def _name(student: Student | None) -> str:
    if student is None:
        return _("your child")
    return student.preferred_name or student.first_name


def _counts(kinds: dict[str, list[AlertEvent]]) -> list[str]:
    lines = []
    if n := len(kinds.get(Kind.SCORE, ())):
        lines.append(ngettext("%(count)s new score", "%(count)s new scores", n) % {"count": n})
    if n := len(kinds.get(Kind.BELOW, ())):
        lines.append(
            ngettext(
                "%(count)s learning target below proficient",
                "%(count)s learning targets below proficient",
                n,
            )
            % {"count": n}
        )
    if n := len(kinds.get(Kind.MISSING, ())):
        lines.append(
            ngettext(
                "%(count)s piece of work marked missing or incomplete",
                "%(count)s pieces of work marked missing or incomplete",
                n,
            )
            % {"count": n}
        )
    if n := len(kinds.get(Kind.FEEDBACK, ())):
        lines.append(
            ngettext(
                "%(count)s new comment from a teacher", "%(count)s new comments from teachers", n
            )
            % {"count": n}
        )
    if n := len(kinds.get(Kind.OPPORTUNITY, ())):
        lines.append(
            ngettext(
                "%(count)s reassessment offered by a teacher",
                "%(count)s reassessments offered by teachers",
                n,
            )
            % {"count": n}
        )
    if n := len(kinds.get(Kind.REQUEST_ANSWERED, ())):
        lines.append(
            ngettext(
                "%(count)s reassessment request answered",
                "%(count)s reassessment requests answered",
                n,
            )
            % {"count": n}
        )
    if kinds.get(Kind.PLACEMENT):
        lines.append(_("A new intervention placement"))
    if kinds.get(Kind.REPORT_CARD):
        lines.append(_("A report card is ready"))
    return lines


def _detail(event: AlertEvent) -> str:
    d = event.details
    title = d.get("assessment", "")
    if event.kind == Kind.SCORE:
        return _("%(assessment)s: scored %(score)s") % {
            "assessment": title,
            "score": d.get("score"),
        }
    if event.kind == Kind.BELOW:
        return _("Below proficient now: %(target)s") % {"target": d.get("target", "")}
    if event.kind == Kind.MISSING:
        if d.get("status") == EvidenceStatus.INCOMPLETE:
            return _("%(assessment)s: incomplete") % {"assessment": title}
        return _("%(assessment)s: missing") % {"assessment": title}
    if event.kind == Kind.FEEDBACK:
        return _("Comment on %(assessment)s: “%(text)s”") % {
            "assessment": title,
            "text": d.get("text", ""),
        }
    if event.kind == Kind.OPPORTUNITY:
        return _("A teacher offers a reassessment on %(target)s") % {"target": d.get("target", "")}
    if event.kind == Kind.REQUEST_ANSWERED:
        status = d.get("status", "")
        label = (
            ReassessmentRequest.Status(status).label
            if status in ReassessmentRequest.Status.values
            else status
        )
        return _("Reassessment request: %(status)s") % {"status": label}
    if event.kind == Kind.REPORT_CARD:
        return _("The report card of %(period)s is ready") % {"period": d.get("period", "")}
    if event.kind == Kind.PLACEMENT:
        days = d.get("days") or {}
        where = "; ".join(f"{day} {what}" for day, what in days.items()) or d.get("group", "")
        return _("Intervention cycle %(cycle)s: %(where)s") % {
            "cycle": d.get("cycle"),
            "where": where,
        }
    return ""


def _intro(frequency: str, school: School) -> str:
    if frequency == Frequency.DAILY:
        return _("Here is today's summary from %(school)s.") % {"school": school.name}
    if frequency == Frequency.WEEKLY:
        return _("Here is this week's summary from %(school)s.") % {"school": school.name}
    return _("There is news from %(school)s.") % {"school": school.name}


def _family_part(
    school: School,
    user: User,
    student_id: int,
    events: list[AlertEvent],
    student: Student | None,
    details: bool,
) -> list[str]:
    kinds: dict[str, list[AlertEvent]] = defaultdict(list)
    for e in events:
        kinds[e.kind].append(e)
    lines = [f"{_name(student)}:"]
    if details:
        lines += [f"  - {_detail(e)}" for e in events]
    else:
        lines += [f"  - {line}" for line in _counts(kinds)]
    own = student is not None and student.user_id == user.id
    link = (
        reverse("reports:me", args=[school.slug])
        if own
        else reverse("reports:child", args=[school.slug, student_id])
    )
    lines.append("  " + _("See it in the portal: %(link)s") % {"link": site_url(link)})
    if kinds.get(Kind.REPORT_CARD):
        cards = (
            reverse("reports:my_report_cards", args=[school.slug])
            if own
            else reverse("reports:child_report_cards", args=[school.slug, student_id])
        )
        lines.append("  " + _("Report cards: %(link)s") % {"link": site_url(cards)})
    return lines


def _staff_part(school: School, events: list[AlertEvent]) -> list[str]:
    lines = []
    requests = [e for e in events if e.kind == Kind.REQUEST_RECEIVED]
    if requests:
        n = len(requests)
        lines.append(
            ngettext(
                "%(count)s new reassessment request to answer.",
                "%(count)s new reassessment requests to answer.",
                n,
            )
            % {"count": n}
        )
        lines.append("  " + site_url(reverse("school_home", args=[school.slug])))
    for e in events:
        if e.kind == Kind.DEADLINE:
            closes = date.fromisoformat(e.details.get("closes_on", ""))
            n = int(e.details.get("sections", 0))
            lines.append(
                ngettext(
                    "Marks for %(period)s are due by %(day)s: %(count)s section not posted yet.",
                    "Marks for %(period)s are due by %(day)s: %(count)s sections not posted yet.",
                    n,
                )
                % {"period": e.details.get("period", ""), "day": date_format(closes), "count": n}
            )
            lines.append("  " + site_url(reverse("school_home", args=[school.slug])))
    for e in events:
        if e.kind == Kind.BATCH_DONE and e.object_id:
            lines.append(_("Your batch of reports is ready to download."))
            lines.append("  " + site_url(reverse("reports:batch", args=[school.slug, e.object_id])))
    return lines


def compose(
    *,
    school: School,
    user: User,
    items: list[AlertItem],
    students: dict[int, Student],
    choices: Choices,
) -> Mail:
    """The subject and text of one person's mail from their due items."""
    language = user.preferred_language or settings.LANGUAGE_CODE
    order = [Frequency.WEEKLY, Frequency.DAILY]
    frequency = next(
        (f for f in order if any(i.frequency == f for i in items)), Frequency.IMMEDIATE
    )
    by_student: dict[int, list[AlertEvent]] = defaultdict(list)
    staff: list[AlertEvent] = []
    for item in items:
        if item.event.student_id is not None and item.event.kind in FAMILY_KINDS:
            by_student[item.event.student_id].append(item.event)
        else:
            staff.append(item.event)
    with translation.override(language):
        names = [_name(students.get(sid)) for sid in by_student]
        if names:
            who = ", ".join(names)
            if frequency == Frequency.DAILY:
                subject = _("%(school)s: today's summary for %(names)s")
            elif frequency == Frequency.WEEKLY:
                subject = _("%(school)s: this week's summary for %(names)s")
            else:
                subject = _("%(school)s: news about %(names)s")
            subject = subject % {"school": school.name, "names": who}
        else:
            subject = _("%(school)s: waiting for you in the gradebook") % {"school": school.name}
        lines = [
            _("Hello %(name)s,") % {"name": user.full_name or user.email},
            "",
            _intro(frequency, school),
            "",
        ]
        for student_id, events in by_student.items():
            lines += _family_part(
                school, user, student_id, events, students.get(student_id), choices.details
            )
            lines.append("")
        if staff:
            lines += _staff_part(school, staff)
            lines.append("")
        lines += [
            _("You get this email because of your alert settings. Change them: %(link)s")
            % {"link": site_url(reverse("alerts:preferences"))},
            _("Stop all alerts: %(link)s") % {"link": unsubscribe_url(user.id)},
        ]
    return Mail(
        frequency=frequency,
        language=language,
        subject=" ".join(subject.split())[:300],
        body="\n".join(lines) + "\n",
    )
