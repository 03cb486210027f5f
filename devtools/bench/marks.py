"""The benchmark's measurements of the marks of record (issue [14]): posting a whole section in one
request, and the school's CSV of a period's posted marks.

Both work on one grading period of the bench term, "Bench Q1" (from the term's first day to
today, its posting window open), made the first time and reused with the data set. The CSV
measures a school where every section has posted: the marks are loaded once, set-based, as the
posting service writes them (one version per key, the computed value from the Mastery record, an
override with its reason on about one mark in 37, a comment on one course grade in 5), besides
the sections the posting measurement posted (a version or two each, as re-posted sections have).
"""

from __future__ import annotations

import json
from datetime import timedelta

from django.db import connection, transaction
from django.db.models import Exists, OuterRef, Subquery
from django.db.models.functions import Coalesce
from django.urls import reverse
from django.utils import timezone

from devtools.bench.measure import Measurement, interleaved, timed
from devtools.bench.runs import World, _capture_queries, _client, _ok, report_batch
from gradebook.models import Enrollment, GradingPeriod, Section, SectionTeacher, Term
from marks.computing import section_marks_compute
from marks.exports import posted_marks_csv_query
from marks.models import PostedMark
from mastery.tenancy import all_schools, enter_school

PERIOD = "Bench Q1"

# One row per enrolment × course target, then one per enrolment for the course grade, of every
# section that has not posted yet (the posting measurement may have posted its own); the
# section's teacher posted them an hour ago.
FILL_SQL = """
INSERT INTO marks_postedmark (
    school_id, student_id, section_id, period_id, kind, target_id, habit_id, subject_id, version,
    computed_value, computed_score, explanation, evidence_count, value, grade_form, reason,
    comment, comment_entry_id, policy_id, posted_by_id, posted_at, outside_window, source)
SELECT e.school_id, e.student_id, e.section_id, %(period)s, 'target', ct.target_id, NULL::bigint,
       ct.target_id, 1, coalesce(trim_scale(m.level)::text, ''), m.score,
       coalesce(m.explanation, ''), coalesce(m.evidence_count, 0),
       CASE WHEN (e.student_id + ct.target_id) %% 37 = 0 THEN '4'
            ELSE coalesce(trim_scale(m.level)::text, '') END,
       '',
       CASE WHEN (e.student_id + ct.target_id) %% 37 = 0 THEN 'Shown again in a conference'
            ELSE '' END,
       '{}'::jsonb, NULL::bigint, NULL::bigint, st.teacher_id, %(at)s, false, 'bench'
FROM gradebook_enrollment e
JOIN gradebook_section s ON s.id = e.section_id
JOIN gradebook_coursetarget ct ON ct.course_id = s.course_id
JOIN LATERAL (SELECT teacher_id FROM gradebook_sectionteacher t
              WHERE t.section_id = s.id ORDER BY t.id LIMIT 1) st ON true
LEFT JOIN gradebook_mastery m ON m.student_id = e.student_id AND m.target_id = ct.target_id
WHERE e.school_id = %(school)s AND s.term_id = %(term)s AND e.withdrawn_on IS NULL
  AND s.id NOT IN (SELECT section_id FROM marks_postedmark WHERE period_id = %(period)s)
UNION ALL
SELECT e.school_id, e.student_id, e.section_id, %(period)s, 'course', NULL::bigint, NULL::bigint, 0, 1,
       'B', 3.0, '', 15, 'B', 'letter', '',
       CASE WHEN e.student_id %% 5 = 0
            THEN '{"en": "Keeps a steady pace and asks good questions."}'::jsonb
            ELSE '{}'::jsonb END,
       NULL::bigint, NULL::bigint, st.teacher_id, %(at)s, false, 'bench'
FROM gradebook_enrollment e
JOIN gradebook_section s ON s.id = e.section_id
JOIN LATERAL (SELECT teacher_id FROM gradebook_sectionteacher t
              WHERE t.section_id = s.id ORDER BY t.id LIMIT 1) st ON true
WHERE e.school_id = %(school)s AND s.term_id = %(term)s AND e.withdrawn_on IS NULL
  AND s.id NOT IN (SELECT section_id FROM marks_postedmark WHERE period_id = %(period)s)
"""


def marking_period(w: World) -> GradingPeriod:
    """The bench term's grading period (made once): open for posting."""
    with all_schools():
        term = Term.objects.get(pk=w.section.term_id)
        ends = max(timezone.localdate(), term.starts_on + timedelta(days=1))
        period, _ = GradingPeriod.objects.get_or_create(
            school=w.school,
            term=term,
            name=PERIOD,
            defaults={"starts_on": term.starts_on, "ends_on": ends},
        )
    return period


def _school_posted(w: World, period: GradingPeriod) -> int:
    """Every section of the school posted for the period (loaded once); the marks it holds."""
    with all_schools():
        marks = PostedMark.objects.filter(school=w.school, period=period)
        if marks.filter(source="bench").exists():
            return marks.count()
        with transaction.atomic(), connection.cursor() as cur:
            cur.execute(
                FILL_SQL,
                {
                    "school": w.school.id,
                    "term": period.term_id,
                    "period": period.id,
                    "at": timezone.now() - timedelta(hours=1),
                },
            )
            cur.execute("ANALYZE marks_postedmark")
        return marks.count()


def _sections_to_post(w: World, period: GradingPeriod, count: int) -> list[Section]:
    """`count` sections of the bench term with students, those posted least often first (a
    benchmark run posts each once: the next run's find as few versions as a posting day's)."""
    with all_schools():
        newest = (
            PostedMark.objects.filter(section=OuterRef("pk"), period=period)
            .order_by("-version")
            .values("version")[:1]
        )
        return list(
            Section.objects.filter(school=w.school, term_id=period.term_id)
            .filter(Exists(Enrollment.objects.filter(section=OuterRef("pk"))))
            .annotate(posted=Coalesce(Subquery(newest), 0))
            .order_by("posted", "id")[:count]
        )


def marks_post(w: World, n: int) -> Measurement:
    """A teacher posts a whole section in one request (the API, the posting grid's service).

    Each sample is another section posted by its teacher, every mark with this run's comment, so
    every mark is written (a first version, or the next one) with its audit event."""
    period = marking_period(w)
    url = reverse("api:posted-mark-post", args=[w.school.slug])
    sections = _sections_to_post(w, period, n + 3)  # 2 to warm, n samples, 1 to count queries
    run = timezone.now().isoformat(timespec="seconds")
    posts = []
    sizes = []
    for section in sections:
        with all_schools():
            teacher = SectionTeacher.objects.filter(section=section).first().teacher
        with enter_school(w.school):
            found = section_marks_compute(school=w.school, section=section, period=period)
        keys = found.keys()  # the grid's order (a method of SectionMarks, not a dict's)
        marks = [
            {
                "student": student_id,
                "kind": kind,
                "subject": subject_id,
                "value": found.computed[(student_id, kind, subject_id)].value,
                "reason": "Posted again for the benchmark",
            }
            for student_id, kind, subject_id in keys
        ]
        posts.append((_client(teacher), section.id, marks))
        sizes.append((len(found.students), len(marks)))
    state = {"i": 0}

    def post():
        # A small school has fewer sections than samples: they come round again, each time with
        # another comment, so that every mark is still written.
        client, section_id, marks = posts[state["i"] % len(posts)]
        comment = f"Benchmark run {run}, post {state['i']}"
        state["i"] += 1
        body = {
            "section": section_id,
            "period": period.id,
            "marks": [{**mark, "comment": comment} for mark in marks],
        }
        payload = json.dumps(body)

        def send():
            response = client.post(url, payload, content_type="application/json")
            if response.status_code != 201:
                raise RuntimeError(f"{url} answered {response.status_code}: {response.content!r}")

        return send

    for _ in range(2):  # warm
        post()()
    # The table may have grown from nothing: autovacuum would have analyzed it by now (it does
    # after 50 rows), and this server runs without it. Without statistics the planner reads the
    # current versions with a nested loop over every version of the section (quadratic: 36 s at
    # 24 versions of 512 marks, against 39 ms analyzed).
    with connection.cursor() as cur:
        cur.execute("ANALYZE marks_postedmark")
    samples = [timed(post()) for _ in range(n)]
    queries = _capture_queries(post())
    students = sum(s for s, _ in sizes) / len(sizes)
    marks = sum(m for _, m in sizes) / len(sizes)
    return Measurement(
        "marks_post",
        f"post a whole section in one request: {students:.0f} students x 15 targets and the"
        f" course grade ({marks:.0f} marks, each written and audited), another section each time",
        budget="constant queries",
        samples_ms=samples,
        queries=queries,
        extra={"marks": round(marks)},
    )


def marks_csv(w: World, n: int) -> Measurement:
    """A school admin downloads the school's CSV of the period's posted marks (streamed)."""
    period = marking_period(w)
    posted = _school_posted(w, period)
    client = _client(w.admin)
    url = reverse("marks:school_export", args=[w.school.slug]) + f"?period={period.id}"
    sizes: list[int] = []

    def download():
        response = _ok(client.get(url))
        sizes.append(sum(len(chunk) for chunk in response.streaming_content))
        response.close()

    with enter_school(w.school):
        # What the database must do at least: find the current versions, join and sort them.
        rows = posted_marks_csv_query(school=w.school, period=period).values_list("id")
        sql, params = rows.query.sql_with_params()

    def floor() -> float:
        def run():
            with enter_school(w.school), transaction.atomic(), connection.cursor() as cur:
                cur.execute(sql, params)
                cur.fetchall()

        return timed(run)

    download()  # warm
    samples, floors = interleaved(lambda: timed(download), floor, n)
    queries = _capture_queries(download)
    with all_schools():
        current = PostedMark.objects.filter(school=w.school, period=period).current().count()
    return Measurement(
        "marks_csv",
        f"the school's CSV of a period's posted marks ({current:,} current marks of"
        f" {posted:,} posted), streamed to the end",
        budget="<= 5 s, constant queries",
        samples_ms=samples,
        floor_ms=floors,
        floor_what="the current marks joined and sorted as the file is, only their ids fetched",
        queries=queries,
        within=lambda m: m.p95 <= 5000,
        extra={"rows": current, "csv_bytes": sizes[-1]},
    )


def report_card_batch(w: World, n: int, size: int, concurrency: int) -> Measurement:
    """A batch of `size` report cards of record as of the bench period (the school posted),
    through real Celery workers, from start to the zip: as `report_batch` measures progress
    reports."""
    period = marking_period(w)
    _school_posted(w, period)
    with all_schools():
        students = list(
            PostedMark.objects.filter(school=w.school, period=period)
            .order_by("student_id")
            .values_list("student_id", flat=True)
            .distinct()
        )
    return report_batch(w, n, size, concurrency, period=period, student_ids=students)


def sis_bundle(w: World, n: int) -> Measurement:
    """District IT downloads the period's OneRoster 1.2 gradebook bundle of the whole school
    (sis: every current posted mark as a result, zipped)."""
    period = marking_period(w)
    _school_posted(w, period)
    client = _client(w.admin)
    url = reverse("sis:bundle", args=[w.school.slug, period.id])
    sizes: list[int] = []

    def download():
        sizes.append(len(_ok(client.get(url)).content))

    download()  # warm
    samples = [timed(download) for _ in range(n)]
    queries = _capture_queries(download)
    with all_schools():
        current = (
            PostedMark.objects.filter(school=w.school, period=period)
            .current()
            .exclude(value="")
            .count()
        )
    return Measurement(
        "sis_bundle",
        f"the school's OneRoster gradebook bundle of a period ({current:,} results), zipped",
        budget="constant queries",
        samples_ms=samples,
        queries=queries,
        extra={"results": current, "zip_bytes": sizes[-1]},
    )
