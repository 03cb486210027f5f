"""The nightly alerts digest of one school (issue [17]): 2,000 students' news for 3,000 guardians
(2,000 with one child, 1,000 with two), built into one summary per family and handed to the mail
backend (Django's in-memory backend: the MIME message is built, nothing leaves the machine).

Set up outside the timing, each sample afresh: the digest's guardians (made once, set-based), and
three score events per student on live evidence. Timed: what the every-minute task does at the
digest hour — items, mails, sending with each mail claimed and marked one at a time.
"""

from __future__ import annotations

import time
from datetime import timedelta

from django.conf import settings
from django.core import mail
from django.db import connection
from django.test.utils import CaptureQueriesContext
from django.utils import timezone

from alerts import builder, preferences, sending
from devtools.bench.measure import Measurement
from mastery.models import School
from mastery.tenancy import enter_school

DIGEST_GUARDIANS = 3000
SCORES_PER_STUDENT = 3


def _guardians(school: School) -> int:
    """The digest's families, made once: guardian k of 1..2,000 has student k-1; guardian
    2,000+j has students 2(j-1) and 2(j-1)+1 (the family with two children)."""
    domain = f"digest-{school.slug}.example"
    with connection.cursor() as cur:
        cur.execute("SELECT count(*) FROM mastery_user WHERE email LIKE %s", [f"%@{domain}"])
        if cur.fetchone()[0] >= DIGEST_GUARDIANS:
            return DIGEST_GUARDIANS
        cur.execute(
            """
            WITH g AS (
                INSERT INTO mastery_user (password, is_superuser, email, full_name,
                                          preferred_language, is_active, is_staff, date_joined)
                SELECT '!', FALSE, 'family' || k || '@' || %(domain)s, 'Family ' || k,
                       CASE WHEN k %% 3 = 0 THEN 'es' ELSE 'en' END, TRUE, FALSE, now()
                FROM generate_series(1, %(n)s) AS k
                RETURNING id, substring(email FROM 7 FOR position('@' IN email) - 7)::int AS k
            ), m AS (
                INSERT INTO mastery_membership (school_id, user_id, role, created_at)
                SELECT %(school)s, id, 'guardian', now() FROM g
            ), kids AS (
                SELECT g.id, CASE WHEN g.k <= 2000 THEN ARRAY[g.k - 1]
                                  ELSE ARRAY[2 * (g.k - 2001), 2 * (g.k - 2001) + 1] END AS ks
                FROM g
            )
            INSERT INTO gradebook_guardianship (school_id, guardian_id, student_id, relationship)
            SELECT %(school)s, kids.id, st.id, 'parent'
            FROM kids, unnest(kids.ks) AS kid(n)
            JOIN gradebook_student st ON st.school_id = %(school)s AND st.local_id::int = kid.n
            """,
            {"domain": domain, "n": DIGEST_GUARDIANS, "school": school.id},
        )
    return DIGEST_GUARDIANS


def _fresh_news(school: School) -> int:
    """Clear the previous sample's alerts; three score events per student, an hour old."""
    with connection.cursor() as cur:
        for table in ("alerts_alertitem", "alerts_alertdelivery", "mastery_alertevent"):
            cur.execute(f"DELETE FROM {table} WHERE school_id = %s", [school.id])
        cur.execute(
            """
            INSERT INTO mastery_alertevent (school_id, kind, student_id, user_id, object_type,
                                            object_id, details, created_at, handled_at)
            SELECT e.school_id, 'score', e.student_id, NULL, 'evidence', e.id,
                   jsonb_build_object('assessment', a.title, 'score', e.score::text,
                                      'status', e.status, 'target_id', e.target_id),
                   now() - interval '1 hour', NULL
            FROM (
                SELECT e.*, row_number() OVER (PARTITION BY e.student_id ORDER BY e.id DESC) AS r
                FROM gradebook_evidence e
                WHERE e.school_id = %(school)s AND e.voided_at IS NULL AND e.status = 'scored'
            ) e JOIN gradebook_assessment a ON a.id = e.assessment_id
            WHERE e.r <= %(per)s
            """,
            {"school": school.id, "per": SCORES_PER_STUDENT},
        )
        return cur.rowcount


def _digest_moment(school: School):
    zone = preferences.zone_of(school.timezone)
    choices = preferences.choices_of(None)
    return preferences.due_at("daily", choices, now=timezone.now(), zone=zone) + timedelta(
        minutes=1
    )


def nightly_digest(w, n: int) -> Measurement:
    school = w.school
    _guardians(school)
    with connection.cursor() as cur:  # the digest's and the data set's own (bench.generate)
        cur.execute(
            "SELECT count(DISTINCT guardian_id) FROM gradebook_guardianship WHERE school_id = %s",
            [school.id],
        )
        families = cur.fetchone()[0]
    saved = settings.MAILERS
    settings.MAILERS = {"default": {"BACKEND": "django.core.mail.backends.locmem.EmailBackend"}}
    samples, built, events = [], 0, 0
    batch_queries: list[int] = []
    try:
        for _ in range(n):
            events = _fresh_news(school)
            at = _digest_moment(school)
            mail.outbox = []
            started = time.perf_counter()
            with enter_school(school):
                # The day's news became items as it came (each due at the evening's digest)…
                while builder.items_build(school):
                    pass
                # …and at the digest hour the mails are built and sent.
                built = 0
                while True:
                    with CaptureQueriesContext(connection) as captured:
                        batch = builder.mails_build(school, now=at)
                    if not batch:
                        break
                    built += batch.mails
                    batch_queries.append(len(captured))
                while sending.send_pending(school).sent:
                    pass
            samples.append((time.perf_counter() - started) * 1000)
            handed = len(mail.outbox)
    finally:
        settings.MAILERS = saved
        mail.outbox = []
    return Measurement(
        "alerts_digest",
        f"the nightly digest: {events} score events for {families} guardians built into one mail"
        " per family and handed to the mail backend",
        budget="< 60 s, constant queries per batch",
        samples_ms=samples,
        queries=max(batch_queries) if batch_queries else None,
        within=lambda m: (
            m.median < 60_000 and built == handed == families and len(set(batch_queries)) == 1
        ),
        extra={
            "mails": built,
            "handed_to_backend": handed,
            "queries_per_batch": sorted(set(batch_queries)),
            "batch": settings.ALERTS_BATCH,
        },
    )
