"""The permission sweep: every URL pattern of the project, asked by every kind of user.

MATRIX says, for each URL pattern (its name; its route when it has none), what each of these
users gets back. A URL pattern missing from the matrix fails the sweep, so a new page, fragment
or API route cannot ship without someone deciding who may use it.

The users, all looking at school A (the world of tests/factories.py):
- admin          a school admin of A
- teacher        the teacher of the section in the URL (world.section)
- other_teacher  a teacher of A who does not teach that section
- counselor, guardian (of the student in the URL), student (the student in the URL)
- district       a district admin of A's district (no membership in A itself)
- other_school   a school admin of school B, and nothing in A
- anonymous      not logged in

Pages and htmx fragments are fetched as tests/mastery/test_tenancy.fetch does: GET, and a POST with a
harmless body when the view only takes POST (405). Each user's request runs in a savepoint that is
rolled back, so what one user's POST changes never decides what the next one sees. The REST API is
called with a personal token (`Authorization: Bearer`) by the users who may hold one, with the
session by the others.
"""

from __future__ import annotations

import json
import re
from dataclasses import dataclass, field
from datetime import date

import pytest
from django.contrib.contenttypes.models import ContentType
from django.core.cache import cache
from django.db import transaction
from django.test import Client
from django.urls import URLPattern, URLResolver, get_resolver, reverse
from django_scopes import scopes_disabled

from gradebook.models import Evidence, Habit, HabitScore, Mastery
from mastery.admin.site import admin_site
from mastery.models import (
    AuditEvent,
    District,
    DistrictMembership,
    GradingPolicy,
    Membership,
    ProficiencyScale,
    Role,
    School,
)
from mastery.services import api_token_create
from tests.factories import World, make_evidence, make_user, make_world
from tests.mastery.test_tenancy import API_OBJECTS, URL_OBJECTS, api_basename

ROLES = (
    "admin",
    "teacher",
    "other_teacher",
    "counselor",
    "guardian",
    "student",
    "district",
    "other_school",
    "anonymous",
)
# Who may hold an API token (mastery.tenancy.API_ROLES); the others reach the API by session.
TOKEN_ROLES = {"admin", "teacher", "other_teacher", "counselor", "district", "other_school"}


# --- The matrix ------------------------------------------------------------------------------------
# One row per URL pattern: the status each user gets, in the order of ROLES. What the codes mean
# here: 200/201 the page (or a 4xx of the form: 400 "post exactly one cell", 422 invalid input),
# 302 a redirect (anonymous: to the login page), 401 the API without credentials, 403 a member
# whose role does not include the page, 404 nothing to see (another school, a section or student
# the user may not see), 405 a method the page never takes.

# fmt: off
MATRIX: dict[str, tuple[int, ...]] = {
    #                                      admin teach other couns guard stud  distr oschl anon
    # Pages of a school
    "school_home":                          (200,  200,  200,  200,  200,  200,  200,  404,  302),
    "policy":                               (200,  200,  200,  200,  403,  403,  200,  404,  302),
    "policy_course":                        (200,  200,  200,  200,  403,  403,  200,  404,  302),
    "policy_run":                           (200,  200,  200,  200,  403,  403,  200,  404,  302),
    "rules":                                (200,  200,  200,  200,  403,  403,  200,  404,  302),
    "rules_course":                         (200,  200,  200,  200,  403,  403,  200,  404,  302),
    "api_tokens":                           (200,  200,  200,  200,  403,  403,  200,  404,  302),
    "audit_log":                            (200,  403,  403,  403,  403,  403,  200,  404,  302),
    "standards":                            (200,  403,  403,  403,  403,  403,  200,  404,  302),
    "standards_framework":                  (200,  403,  403,  403,  403,  403,  200,  404,  302),
    # The gradebook: a teacher's own section; counselors and district admins read, never score
    "gradebook:section_detail":             (200,  200,  404,  200,  404,  404,  200,  404,  302),
    "gradebook:section_export":             (200,  200,  404,  200,  404,  404,  200,  404,  302),
    "gradebook:assessment_list":            (200,  200,  404,  200,  404,  404,  200,  404,  302),
    "gradebook:assessment_create":          (200,  200,  404,  403,  404,  404,  403,  404,  302),
    "gradebook:assessment_edit":            (200,  200,  404,  403,  404,  404,  403,  404,  302),
    "gradebook:score":                      (200,  200,  404,  403,  404,  404,  403,  404,  302),
    "gradebook:cell_detail":                (200,  200,  404,  200,  404,  404,  200,  404,  302),
    "gradebook:reassessment_list":          (200,  200,  404,  200,  404,  404,  200,  404,  302),
    "gradebook:habits":                     (200,  200,  404,  200,  404,  404,  200,  404,  302),
    # The marks of record: a section's teachers and school admins post; counselors and district
    # admins read. The history without a mark asked for is nothing to see.
    "marks:post":                           (200,  200,  404,  200,  404,  404,  200,  404,  302),
    "marks:history":                        (404,  404,  404,  404,  404,  404,  404,  404,  302),
    # htmx fragments and POST-only endpoints (400/422: let through, the harmless body refused)
    "gradebook:score_cell":                 (400,  400,  404,  403,  404,  404,  403,  404,  302),
    "gradebook:score_feedback":             (400,  400,  404,  403,  404,  404,  403,  404,  302),
    "gradebook:score_fill":                 (200,  200,  404,  403,  404,  404,  403,  404,  302),
    "gradebook:score_undo":                 (200,  200,  404,  403,  404,  404,  403,  404,  302),
    "gradebook:cell_reassess":              (422,  422,  404,  403,  404,  404,  403,  404,  302),
    "gradebook:evidence_void":              (200,  200,  404,  403,  404,  404,  403,  404,  302),
    "gradebook:request_resolve":            (302,  302,  404,  403,  404,  404,  403,  404,  302),
    "gradebook:requests_schedule":          (302,  302,  404,  403,  404,  404,  403,  404,  302),
    "gradebook:cell_request":               (302,  302,  404,  403,  404,  404,  403,  404,  302),
    # A teacher answers the student's rating of themselves (the harmless body: an empty answer)
    "gradebook:self_assessment_reply":      (422,  422,  404,  403,  404,  404,  403,  404,  302),
    "gradebook:habit_cell":                 (400,  400,  404,  403,  404,  404,  403,  404,  302),
    # Evidence files: attached by those who score the section; read by who may see the student's
    # work (the file is on the student's evidence: the student and their guardian read it too)
    "gradebook:evidence_files_add":         (302,  302,  404,  403,  404,  404,  403,  404,  302),
    "gradebook:assessment_files_add":       (302,  302,  404,  403,  404,  404,  403,  404,  302),
    "gradebook:attachment_remove":          (302,  302,  404,  403,  404,  404,  403,  404,  302),
    "gradebook:file_download":              (200,  200,  404,  200,  200,  200,  200,  404,  302),
    "gradebook:file_thumbnail":             (200,  200,  404,  200,  200,  200,  200,  404,  302),
    # Work students submitted: listed to who sees the section, scored by who scores it
    "gradebook:submission_list":            (200,  200,  404,  200,  404,  404,  200,  404,  302),
    "gradebook:submission_score":           (302,  302,  404,  403,  404,  404,  403,  404,  302),
    "gradebook:submission_return":          (422,  422,  404,  403,  404,  404,  403,  404,  302),
    # Students and the learning framework (teachers of a department's course edit its targets)
    "gradebook:student_detail":             (200,  200,  404,  200,  200,  200,  200,  404,  302),
    "gradebook:target_list":                (200,  200,  200,  200,  200,  200,  200,  404,  302),
    "gradebook:target_detail":              (200,  200,  200,  200,  200,  200,  200,  404,  302),
    "gradebook:department_targets":         (200,  200,  200,  200,  200,  200,  200,  404,  302),
    "gradebook:target_create":              (200,  200,  200,  403,  403,  403,  403,  404,  302),
    "gradebook:target_edit":                (200,  200,  200,  403,  403,  403,  403,  404,  302),
    "gradebook:target_move":                (302,  302,  302,  403,  403,  403,  403,  404,  302),
    "gradebook:target_import":              (200,  200,  200,  403,  403,  403,  403,  404,  302),
    "gradebook:competency_create":          (200,  200,  200,  403,  403,  403,  403,  404,  302),
    "gradebook:competency_edit":            (200,  200,  200,  403,  403,  403,  403,  404,  302),
    "gradebook:mastery_export":             (200,  403,  403,  200,  403,  403,  200,  404,  302),
    "gradebook:section_requests_export":    (200,  200,  404,  200,  404,  404,  200,  404,  302),
    "gradebook:requests_export":            (200,  403,  403,  200,  403,  403,  200,  404,  302),
    "gradebook:oneroster_import":           (200,  403,  403,  403,  403,  403,  403,  404,  302),
    # The CSV of record (marks.views.exports): without ?period= a 400 once the user may export
    "marks:section_export":                 (400,  400,  404,  400,  404,  404,  400,  404,  302),
    "marks:school_export":                  (400,  403,  403,  400,  403,  403,  400,  404,  302),
    "gradebook:feedback_settings":          (200,  200,  200,  200,  403,  403,  200,  404,  302),
    # Intervention (the group in the URL is other_teacher's; the student is teacher's)
    "intervention:home":                    (200,  302,  302,  200,  403,  403,  200,  404,  302),
    "intervention:mine":                    (200,  200,  200,  200,  403,  403,  200,  404,  302),
    "intervention:settings":                (200,  403,  403,  200,  403,  403,  403,  404,  302),
    "intervention:cycle_open":              (302,  403,  403,  302,  403,  403,  403,  404,  302),
    "intervention:cycle_rebuild":           (302,  403,  403,  302,  403,  403,  403,  404,  302),
    "intervention:cycle_close":             (302,  403,  403,  302,  403,  403,  403,  404,  302),
    "intervention:stats":                   (200,  403,  403,  200,  403,  403,  200,  404,  302),
    "intervention:day":                     (200,  200,  200,  200,  403,  403,  200,  404,  302),
    "intervention:entry_move":              (200,  403,  403,  200,  403,  403,  403,  404,  302),
    "intervention:attendance":              (200,  404,  200,  200,  403,  403,  404,  404,  302),
    "intervention:history":                 (200,  200,  404,  200,  403,  403,  200,  404,  302),
    # School years and the rollover: school admins only
    "years:home":                           (200,  403,  403,  403,  403,  403,  403,  404,  302),
    "years:rollover":                       (200,  403,  403,  403,  403,  403,  403,  404,  302),
    "years:year":                           (200,  403,  403,  403,  403,  403,  403,  404,  302),
    # The marks of record's admin pages (marks.views.admin): school admins only, as years
    "marks:progress":                       (200,  403,  403,  403,  403,  403,  403,  404,  302),
    "marks:periods":                        (200,  403,  403,  403,  403,  403,  403,  404,  302),
    "marks:comments":                       (200,  403,  403,  403,  403,  403,  403,  404,  302),
    "marks:comment":                        (200,  403,  403,  403,  403,  403,  403,  404,  302),
    # Grades to the SIS (sis.views.page): school admins and district admins (district IT). The
    # sweep's period has marks posted without a value (no evidence): the bundle sends those who
    # may take it back to the page with the reason (302); the zip itself: tests/sis/test_bundle.py
    "sis:page":                             (200,  403,  403,  403,  403,  403,  200,  404,  302),
    "sis:bundle":                           (302,  403,  403,  403,  403,  403,  302,  404,  302),
    "sis:delivery":                         (200,  403,  403,  403,  403,  403,  200,  404,  302),
    # The portals, reports and records
    "reports:child":                        (200,  200,  404,  200,  200,  404,  200,  404,  302),
    "reports:child_report":                 (200,  200,  404,  200,  200,  404,  200,  404,  302),
    # Report cards of record (a period with marks posted for the student): as the child's page;
    # the staff's own address for students they may see
    "reports:child_report_cards":           (200,  200,  404,  200,  200,  404,  200,  404,  302),
    "reports:child_report_card":            (200,  200,  404,  200,  200,  404,  200,  404,  302),
    "reports:my_report_cards":              (403,  403,  403,  403,  403,  200,  403,  404,  302),
    "reports:my_report_card":               (403,  403,  403,  403,  403,  200,  403,  404,  302),
    "reports:student_report_card":          (200,  200,  404,  200,  403,  403,  200,  404,  302),
    "reports:report_card_batches":          (200,  403,  403,  403,  403,  403,  403,  404,  302),
    "reports:me":                           (403,  403,  403,  403,  403,  200,  403,  404,  302),
    "reports:my_report":                    (403,  403,  403,  403,  403,  200,  403,  404,  302),
    "reports:goal_add":                     (403,  403,  403,  403,  403,  302,  403,  404,  302),
    # Asking for a reassessment: the student for themself, a guardian for their own child only
    # (staff previewing the family view read it, never ask); the request here is another child's
    "reports:my_request":                   (403,  403,  403,  403,  403,  200,  403,  404,  302),
    "reports:my_request_withdraw":          (403,  403,  403,  403,  403,  404,  403,  404,  302),
    "reports:child_request":                (404,  404,  404,  404,  200,  404,  404,  404,  302),
    "reports:child_request_withdraw":       (404,  404,  404,  404,  404,  404,  404,  404,  302),
    "reports:goal_done":                    (403,  403,  403,  403,  403,  302,  403,  404,  302),
    # Rating oneself: the student only (families read the ratings on the child's page)
    "reports:my_self_assessment":           (403,  403,  403,  403,  403,  200,  403,  404,  302),
    "reports:my_self_assessment_withdraw":  (403,  403,  403,  403,  403,  302,  403,  404,  302),
    # Handing in work: the student, their own submission (here: theirs, so withdrawn)
    "reports:my_work":                      (403,  403,  403,  403,  403,  200,  403,  404,  302),
    "reports:my_work_withdraw":             (403,  403,  403,  403,  403,  302,  403,  404,  302),
    "reports:families":                     (200,  403,  403,  200,  403,  403,  403,  404,  302),
    "reports:batches":                      (200,  200,  200,  200,  403,  403,  403,  404,  302),
    "reports:batch":                        (200,  404,  404,  200,  403,  403,  403,  404,  302),
    "reports:batch_download":               (404,  404,  404,  404,  403,  403,  403,  404,  302),
    "reports:student_records":              (200,  403,  403,  403,  403,  403,  403,  404,  302),
    "reports:dashboards":                   (200,  200,  200,  200,  403,  403,  200,  404,  302),
    "reports:dashboard_department":         (200,  200,  200,  200,  403,  403,  200,  404,  302),
    "reports:dashboard_intervention":       (200,  403,  403,  200,  403,  403,  200,  404,  302),
    "reports:dashboard_school":             (200,  403,  403,  403,  403,  403,  200,  404,  302),
    # The REST API (tokens; guardians and students by session: no API for them)
    "api:school-list":                      (200,  200,  200,  200,  200,  200,  200,  200,  401),
    "api:school-detail":                    (200,  200,  200,  200,  403,  403,  200,  404,  401),
    "api:scale-list":                       (200,  200,  200,  200,  403,  403,  200,  404,  401),
    "api:department-list":                  (200,  200,  200,  200,  403,  403,  200,  404,  401),
    "api:department-detail":                (200,  200,  200,  200,  403,  403,  200,  404,  401),
    "api:competency-list":                  (200,  200,  200,  200,  403,  403,  200,  404,  401),
    "api:competency-detail":                (200,  200,  200,  200,  403,  403,  200,  404,  401),
    "api:target-list":                      (200,  200,  200,  200,  403,  403,  200,  404,  401),
    "api:target-detail":                    (200,  200,  200,  200,  403,  403,  200,  404,  401),
    # Standards frameworks (the district's and the school's own): read only, for all staff
    "api:framework-list":                   (200,  200,  200,  200,  403,  403,  200,  404,  401),
    "api:framework-detail":                 (200,  200,  200,  200,  403,  403,  200,  404,  401),
    "api:framework-items":                  (200,  200,  200,  200,  403,  403,  200,  404,  401),
    "api:term-list":                        (200,  200,  200,  200,  403,  403,  200,  404,  401),
    "api:term-detail":                      (200,  200,  200,  200,  403,  403,  200,  404,  401),
    "api:course-list":                      (200,  200,  200,  200,  403,  403,  200,  404,  401),
    "api:course-detail":                    (200,  200,  200,  200,  403,  403,  200,  404,  401),
    "api:section-list":                     (200,  200,  200,  200,  403,  403,  200,  404,  401),
    "api:section-detail":                   (200,  200,  404,  200,  403,  403,  200,  404,  401),
    "api:section-gradebook-csv":            (200,  200,  404,  200,  403,  403,  200,  404,  401),
    "api:student-list":                     (200,  200,  200,  200,  403,  403,  200,  404,  401),
    "api:student-detail":                   (200,  200,  404,  200,  403,  403,  200,  404,  401),
    "api:student-report-detail":            (200,  200,  404,  200,  403,  403,  200,  404,  401),
    "api:enrollment-list":                  (200,  200,  200,  200,  403,  403,  200,  404,  401),
    "api:enrollment-detail":                (200,  200,  404,  200,  403,  403,  200,  404,  401),
    "api:assessment-list":                  (200,  200,  200,  200,  403,  403,  200,  404,  401),
    "api:assessment-detail":                (200,  200,  200,  200,  403,  403,  200,  404,  401),
    "api:evidence-list":                    (200,  200,  200,  200,  403,  403,  200,  404,  401),
    "api:evidence-detail":                  (200,  200,  404,  200,  403,  403,  200,  404,  401),
    "api:evidence-void":                    (200,  200,  404,  403,  403,  403,  403,  404,  401),
    "api:mastery-list":                     (200,  200,  200,  200,  403,  403,  200,  404,  401),
    "api:mastery-detail":                   (200,  200,  404,  200,  403,  403,  200,  404,  401),
    "api:mastery-export-csv":               (200,  403,  403,  200,  403,  403,  200,  404,  401),
    # Reassessment requests: read like their section; the section's teachers and school admins
    # accept (the sweep's body has no day: 400) and decline; counselors and district admins read
    "api:reassessment-request-list":        (200,  200,  200,  200,  403,  403,  200,  404,  401),
    "api:reassessment-request-detail":      (200,  200,  404,  200,  403,  403,  200,  404,  401),
    "api:reassessment-request-accept":      (400,  400,  404,  403,  403,  403,  403,  404,  401),
    "api:reassessment-request-decline":     (200,  200,  404,  403,  403,  403,  403,  404,  401),
    "api:reassessment-request-accept-many": (400,  400,  400,  403,  403,  403,  403,  404,  401),
    # Self-assessments: read like the students; answered by the student's teachers (the harmless
    # body: no answer, 400) and school admins
    "api:self-assessment-list":             (200,  200,  200,  200,  403,  403,  200,  404,  401),
    "api:self-assessment-detail":           (200,  200,  404,  200,  403,  403,  200,  404,  401),
    "api:self-assessment-reply":            (400,  400,  404,  403,  403,  403,  403,  404,  401),
    # Evidence files (on the student's evidence in the teacher's section) and submitted work
    "api:evidence-file-list":               (200,  200,  200,  200,  403,  403,  200,  404,  401),
    "api:evidence-file-detail":             (200,  200,  404,  200,  403,  403,  200,  404,  401),
    "api:evidence-file-download":           (200,  200,  404,  200,  403,  403,  200,  404,  401),
    "api:submission-list":                  (200,  200,  200,  200,  403,  403,  200,  404,  401),
    "api:submission-detail":                (200,  200,  404,  200,  403,  403,  200,  404,  401),
    # The rules: read only, for all staff (the check without a student and target: 400)
    "api:reassessment-rule-list":           (200,  200,  200,  200,  403,  403,  200,  404,  401),
    "api:reassessment-rule-detail":         (200,  200,  200,  200,  403,  403,  200,  404,  401),
    "api:reassessment-rule-check":          (400,  400,  400,  400,  403,  403,  400,  404,  401),
    "api:cycle-list":                       (200,  200,  200,  200,  403,  403,  200,  404,  401),
    "api:cycle-detail":                     (200,  200,  200,  200,  403,  403,  200,  404,  401),
    "api:group-list":                       (200,  200,  200,  200,  403,  403,  200,  404,  401),
    "api:group-detail":                     (200,  404,  200,  200,  403,  403,  200,  404,  401),
    "api:roster-entry-list":                (200,  200,  200,  200,  403,  403,  200,  404,  401),
    "api:roster-entry-detail":              (200,  404,  200,  200,  403,  403,  200,  404,  401),
    "api:report-batch-list":                (200,  200,  200,  200,  403,  403,  403,  404,  401),
    "api:report-batch-detail":              (200,  404,  404,  200,  403,  403,  403,  404,  401),
    "api:report-batch-download":            (404,  404,  404,  404,  403,  403,  403,  404,  401),
    # Marks of record: read like their section; posted by its teachers and school admins (the
    # sweep's body posts nothing: 400); the comment bank read by all staff
    "api:posted-mark-list":                 (200,  200,  200,  200,  403,  403,  200,  404,  401),
    "api:posted-mark-detail":               (200,  200,  404,  200,  403,  403,  200,  404,  401),
    "api:posted-mark-post":                 (400,  400,  400,  403,  403,  403,  403,  404,  401),
    "api:comment-bank-list":                (200,  200,  200,  200,  403,  403,  200,  404,  401),
    "api:comment-bank-detail":              (200,  200,  200,  200,  403,  403,  200,  404,  401),
    "api:schema":                           (200,  200,  200,  200,  200,  200,  200,  200,  200),
    "api:docs":                             (200,  200,  200,  200,  200,  200,  200,  200,  200),
    "api/^.*$":                             (404,  404,  404,  404,  404,  404,  404,  404,  404),
    # Outside any school
    # (the district admin, and nothing else, is sent on to the district's dashboard)
    "home":                                 (302,  302,  302,  302,  302,  302,  302,  302,  302),
    "healthz":                              (200,  200,  200,  200,  200,  200,  200,  200,  200),
    # The OneRoster Gradebook binding (sis.rest): a SIS client's bearer token, never a session.
    "oneroster_gradebook:categories":       (401,  401,  401,  401,  401,  401,  401,  401,  401),
    "oneroster_gradebook:category":         (401,  401,  401,  401,  401,  401,  401,  401,  401),
    "oneroster_gradebook:line_items":       (401,  401,  401,  401,  401,  401,  401,  401,  401),
    "oneroster_gradebook:line_item":        (401,  401,  401,  401,  401,  401,  401,  401,  401),
    "oneroster_gradebook:results":          (401,  401,  401,  401,  401,  401,  401,  401,  401),
    "oneroster_gradebook:result":           (401,  401,  401,  401,  401,  401,  401,  401,  401),
    "oneroster_gradebook:score_scales":     (401,  401,  401,  401,  401,  401,  401,  401,  401),
    "oneroster_gradebook:score_scale":      (401,  401,  401,  401,  401,  401,  401,  401,  401),
    "oneroster_gradebook:class_categories": (401,  401,  401,  401,  401,  401,  401,  401,  401),
    "oneroster_gradebook:class_line_items": (401,  401,  401,  401,  401,  401,  401,  401,  401),
    "oneroster_gradebook:class_results":    (401,  401,  401,  401,  401,  401,  401,  401,  401),
    "oneroster_gradebook:class_line_item_results":(401,  401,  401,  401,  401,  401,  401,  401,  401),
    "oneroster_gradebook:class_student_results":(401,  401,  401,  401,  401,  401,  401,  401,  401),
    "oneroster_gradebook:class_score_scales":(401,  401,  401,  401,  401,  401,  401,  401,  401),
    "oneroster_gradebook:school_score_scales":(401,  401,  401,  401,  401,  401,  401,  401,  401),
    # The OAuth 2 token endpoints (django-oauth-toolkit): 400 invalid_request without a grant.
    "oauth_token":                          (400,  400,  400,  400,  400,  400,  400,  400,  400),
    "oauth_revoke":                         (400,  400,  400,  400,  400,  400,  400,  400,  400),
    "language_switch":                      (302,  302,  302,  302,  302,  302,  302,  302,  302),
    "family_home":                          (200,  200,  200,  200,  200,  200,  200,  200,  302),
    # Alerts: everyone's own settings; the stop link's token is the authority (a forged one
    # 404s); the provider webhooks exist only with a shared secret; what was sent, the admins'.
    "alerts:preferences":                   (200,  200,  200,  200,  200,  200,  200,  200,  302),
    "alerts:unsubscribe":                   (404,  404,  404,  404,  404,  404,  404,  404,  404),
    "alerts:postmark_tracking":             (404,  404,  404,  404,  404,  404,  404,  404,  404),
    "alerts:amazon_ses_tracking":           (404,  404,  404,  404,  404,  404,  404,  404,  404),
    "alerts:mailgun_tracking":              (404,  404,  404,  404,  404,  404,  404,  404,  404),
    "alerts:sendgrid_tracking":             (404,  404,  404,  404,  404,  404,  404,  404,  404),
    "alerts_sent":                          (200,  403,  403,  403,  403,  403,  200,  404,  302),
    "district_dashboard":                   (404,  404,  404,  404,  404,  404,  200,  404,  302),
    # District single sign-on (mastery.sso): the district's page for its own admins only; the
    # sign-in step for anyone; allauth's login and callback need a provider in use (else 404).
    "sso_district":                         (404,  404,  404,  404,  404,  404,  200,  404,  302),
    "sso_start":                            (200,  200,  200,  200,  200,  200,  200,  200,  200),
    "openid_connect_login":                 (404,  404,  404,  404,  404,  404,  404,  404,  404),
    "openid_connect_callback":              (404,  404,  404,  404,  404,  404,  404,  404,  404),
    # SAML (allauth's views): a provider in use or 404; the ACS takes any
    # POST and hands it to the finish, which checks; single logout is not offered.
    "saml_login":                           (404,  404,  404,  404,  404,  404,  404,  404,  404),
    "saml_acs":                             (302,  302,  302,  302,  302,  302,  302,  302,  302),
    "saml_finish_acs":                      (404,  404,  404,  404,  404,  404,  404,  404,  404),
    "saml_metadata":                        (404,  404,  404,  404,  404,  404,  404,  404,  404),
    "saml_sls":                             (404,  404,  404,  404,  404,  404,  404,  404,  404),
    "district_signin_link":                 (404,  404,  404,  404,  404,  404,  200,  404,  302),
    "invitation_code":                      (200,  200,  200,  200,  200,  200,  200,  200,  200),
    "invitation_accept_code":               (404,  404,  404,  404,  404,  404,  404,  404,  404),
    "invitation_accept":                    (404,  404,  404,  404,  404,  404,  404,  404,  404),
    "email_change_confirm":                 (404,  404,  404,  404,  404,  404,  404,  404,  404),
    "login":                                (302,  302,  302,  302,  302,  302,  302,  302,  200),
    "logout":                               (302,  302,  302,  302,  302,  302,  302,  302,  302),
    "password_change":                      (200,  200,  200,  200,  200,  200,  200,  200,  302),
    "password_change_done":                 (200,  200,  200,  200,  200,  200,  200,  200,  302),
    "password_reset":                       (200,  200,  200,  200,  200,  200,  200,  200,  200),
    "password_reset_done":                  (200,  200,  200,  200,  200,  200,  200,  200,  200),
    "password_reset_confirm":               (200,  200,  200,  200,  200,  200,  200,  200,  200),
    "password_reset_complete":              (200,  200,  200,  200,  200,  200,  200,  200,  200),
    # The admin site: school admins only (302 to its login for everyone else)
    "admin:index":                          (200,  302,  302,  302,  302,  302,  302,  200,  302),
    "admin:app_list":                       (200,  302,  302,  302,  302,  302,  302,  200,  302),
    "admin:login":                          (302,  200,  200,  200,  200,  200,  200,  302,  200),
    "admin:logout":                         (302,  302,  302,  302,  302,  302,  302,  302,  302),
    "admin:password_change":                (200,  302,  302,  302,  302,  302,  302,  200,  302),
    "admin:password_change_done":           (200,  302,  302,  302,  302,  302,  302,  200,  302),
    "admin:jsi18n":                         (200,  302,  302,  302,  302,  302,  302,  200,  302),
    "admin:autocomplete":                   (403,  302,  302,  302,  302,  302,  302,  403,  302),
    "admin:view_on_site":                   (404,  302,  302,  302,  302,  302,  302,  404,  302),
    # Only the account's owner (or a superuser) sets a password: never a school admin.
    "admin:auth_user_password_change":      (403,  302,  302,  302,  302,  302,  302,  404,  302),
    "admin/(?P<url>.*)$":                   (404,  302,  302,  302,  302,  302,  302,  404,  302),
}

# The admin's pages of one model. Other school's admin: their own school's list (200), and a
# school A object "does not exist" (a redirect to the admin's index).
LIST =                                      (200,  302,  302,  302,  302,  302,  302,  200,  302)
AN_OBJECT =                                 (200,  302,  302,  302,  302,  302,  302,  302,  302)
REFUSED =                                   (403,  302,  302,  302,  302,  302,  302,  403,  302)
REDIRECT =                                  (302,  302,  302,  302,  302,  302,  302,  302,  302)
# fmt: on
EDITABLE = {
    "changelist": LIST,
    "add": LIST,
    "change": AN_OBJECT,
    "delete": AN_OBJECT,
    "history": AN_OBJECT,
    "object": REDIRECT,  # /admin/<app>/<model>/<id>/ → its change page
}
# Scores, computed results, policies and the audit trail change only through the services.
READ_ONLY = {**EDITABLE, "add": REFUSED, "delete": REFUSED}
# Districts are set up by superusers.
SUPERUSERS_ONLY = {
    **dict.fromkeys(["changelist", "add", "change", "delete", "history"], REFUSED),
    "object": REDIRECT,
}

# The admin site: the same pages for every registered model (changelist, add, change, delete,
# history, and the bare object URL). A model registered without a row here fails the sweep.
ADMIN_MODELS: dict[str, dict[str, tuple[int, ...]]] = {
    "mastery_user": {**EDITABLE, "delete": REFUSED},  # people are deactivated, never deleted
    "mastery_district": SUPERUSERS_ONLY,
    "mastery_districtmembership": SUPERUSERS_ONLY,
    "mastery_school": {**EDITABLE, "add": REFUSED, "delete": REFUSED},
    "mastery_membership": EDITABLE,
    "mastery_department": EDITABLE,
    "mastery_competency": EDITABLE,
    "mastery_learningtarget": EDITABLE,
    "mastery_proficiencyscale": EDITABLE,
    "mastery_gradingpolicy": READ_ONLY,
    "mastery_auditevent": READ_ONLY,
    "gradebook_term": EDITABLE,
    "gradebook_course": EDITABLE,
    "gradebook_section": EDITABLE,
    "gradebook_student": EDITABLE,
    "gradebook_assessment": EDITABLE,
    "gradebook_evidence": READ_ONLY,
    "gradebook_mastery": READ_ONLY,
    "gradebook_habit": EDITABLE,
    "gradebook_habitscore": READ_ONLY,
}

# Rows the application does not meet yet: the test expects the failure (strict: once fixed, the
# entry must go). Each names the bug.
KNOWN_BUGS: dict[str, str] = {}  # url name → why it is expected to fail (none now)


# --- Walking the URL patterns ----------------------------------------------------------------------


@dataclass(frozen=True)
class Route:
    key: str  # the name (namespaced), or the route itself for a pattern without a name
    name: str | None
    route: str
    params: tuple[str, ...]

    @property
    def is_api(self) -> bool:
        return self.route.startswith("api/")


def all_routes() -> list[Route]:
    """Every URL pattern of the project, once (a pattern shadowed by an earlier one of the same
    name and route, like django.contrib.auth's own login, counts once)."""

    def walk(patterns, prefix, namespace):
        for p in patterns:
            if isinstance(p, URLResolver):
                ns = f"{namespace}{p.namespace}:" if p.namespace else namespace
                yield from walk(p.url_patterns, prefix + str(p.pattern), ns)
            elif isinstance(p, URLPattern):
                route = prefix + str(p.pattern)
                params = tuple(re.findall(r"<(?:\w+:)?(\w+)>|\(\?P<(\w+)>", route))
                names = tuple(a or b for a, b in params)
                name = f"{namespace}{p.name}" if p.name else None
                yield Route(name or route, name, route, names)

    seen: dict[str, Route] = {}
    for r in walk(get_resolver().url_patterns, "", ""):
        seen.setdefault(r.key, r)
    return sorted(seen.values(), key=lambda r: r.key)


ROUTES = all_routes()


def expected_statuses() -> dict[str, tuple[int, ...]]:
    """MATRIX plus the rows of the admin site made from ADMIN_MODELS."""
    rows = dict(MATRIX)
    for model, pages in ADMIN_MODELS.items():
        app, name = model.split("_", 1)
        for page, statuses in pages.items():
            if page == "object":
                rows[f"admin/{app}/{name}/<path:object_id>/"] = statuses
            else:
                rows[f"admin:{model}_{page}"] = statuses
    return rows


EXPECTED = expected_statuses()


# --- One world with every kind of user -------------------------------------------------------------


@dataclass
class People:
    world: World
    users: dict[str, object]
    tokens: dict[str, str]
    objects: dict[str, object] = field(default_factory=dict)


def make_people() -> People:
    w = make_world("alpha")
    with scopes_disabled():
        district = District.objects.create(name="North", slug="north")
        w.school.district = district
        w.school.save(update_fields=["district"])
        chief = make_user("chief@north.test", "Chief District")
        DistrictMembership.objects.create(district=district, user=chief)
        beta = School.objects.create(name="School BETA", slug="beta")
        stranger = make_user("admin@beta.test", "Bea Beta")
        Membership.objects.create(school=beta, user=stranger, role=Role.SCHOOL_ADMIN)
    users = {
        "admin": w.admin,
        "teacher": w.teacher,
        "other_teacher": w.other_teacher,
        "counselor": w.counselor,
        "guardian": w.guardian,
        "student": w.student_user,
        "district": chief,
        "other_school": stranger,
        "anonymous": None,
    }
    tokens = {}
    for role in TOKEN_ROLES:
        school = beta if role == "other_school" else w.school
        with scopes_disabled():
            _, tokens[role] = api_token_create(school=school, user=users[role], name="sweep")
    return People(world=w, users=users, tokens=tokens, objects={"district": district})


@pytest.fixture(scope="module")
def one_world(django_db_setup, django_db_blocker):
    """The world, made once for the module inside a transaction rolled back at its end (as
    Django's TestCase.setUpTestData does): the sweep asks a few thousand questions of it."""
    with django_db_blocker.unblock():
        outer = transaction.atomic()
        outer.__enter__()
        try:
            yield make_people()
        finally:
            transaction.set_rollback(True)
            outer.__exit__(None, None, None)


@pytest.fixture
def people(one_world, db) -> People:
    """The module's world as it was made: each test runs in a savepoint rolled back after it (the
    `db` fixture), so the objects a URL needs (made on demand) are made afresh for each test."""
    one_world.world.extra.clear()
    return one_world


def _habit_score(p: People):
    w = p.world
    with scopes_disabled():
        habit = Habit.objects.create(school=w.school, name="Effort")
        return HabitScore.objects.create(
            school=w.school,
            student=w.student,
            habit=habit,
            section=w.section,
            score=3,
            assessed_on=date.today(),
            recorded_by=w.teacher,
        )


def _first(model, p: People) -> int:
    with scopes_disabled():
        return model.objects.filter(school=p.world.school).order_by("pk").first().pk


# The object of school A behind each admin model's change, delete and history pages.
ADMIN_OBJECTS = {
    "mastery_user": lambda p: p.world.teacher.pk,
    "mastery_district": lambda p: p.objects["district"].pk,
    "mastery_districtmembership": lambda p: p.users["district"].district_memberships.get().pk,
    "mastery_school": lambda p: p.world.school.pk,
    "mastery_membership": lambda p: p.world.teacher.memberships.get().pk,
    "mastery_department": lambda p: p.world.department.pk,
    "mastery_competency": lambda p: p.world.competency.pk,
    "mastery_learningtarget": lambda p: p.world.targets[0].pk,
    "mastery_proficiencyscale": lambda p: _first(ProficiencyScale, p),
    "mastery_gradingpolicy": lambda p: _first(GradingPolicy, p),
    "gradebook_term": lambda p: p.world.term.pk,
    "gradebook_course": lambda p: p.world.course.pk,
    "gradebook_section": lambda p: p.world.section.pk,
    "gradebook_student": lambda p: p.world.student.pk,
    "gradebook_assessment": lambda p: p.world.assessment.pk,
    "gradebook_evidence": lambda p: make_evidence(p.world).evidence.pk,
    "gradebook_mastery": lambda p: make_evidence(p.world) and _first(Mastery, p),
    "gradebook_habit": lambda p: _habit_score(p).habit_id,
    "gradebook_habitscore": lambda p: _habit_score(p).pk,
    "mastery_auditevent": lambda p: make_evidence(p.world) and _first(AuditEvent, p),
}

# Parameters of the URLs outside /s/<school_slug>/.
OTHER_PARAMS = {
    "uidb64": lambda p: "MQ",
    "token": lambda p: "not-a-real-token",
    "app_label": lambda p: "gradebook",
    "district_slug": lambda p: p.objects["district"].slug,
    # The OneRoster binding's sourcedIds (sis.rest): any string; the token is what is refused.
    "sourced_id": lambda p: "some-sourced-id",
    "class_id": lambda p: "some-class",
    "line_item_id": lambda p: "some-line-item",
    "school_id": lambda p: "some-school",
    "provider_id": lambda p: "district-0-0",
    "organization_slug": lambda p: "district-0-0",
}
# Patterns without a name cannot be reversed: the URL asked for each.
UNNAMED_URLS = {
    "admin/(?P<url>.*)$": lambda p: "/admin/no-such-page/",
    "api/^.*$": lambda p: "/api/v2/no-such-route/",
}


def url_of(route: Route, p: People) -> str:
    if route.key in UNNAMED_URLS:
        return UNNAMED_URLS[route.key](p)
    admin_object = re.fullmatch(r"admin/(\w+)/(\w+)/<path:object_id>/", route.route)
    with scopes_disabled():
        if admin_object:
            model = f"{admin_object[1]}_{admin_object[2]}"
            return f"/admin/{admin_object[1]}/{admin_object[2]}/{ADMIN_OBJECTS[model](p)}/"
        if route.name == "admin:view_on_site":
            section_type = ContentType.objects.get_for_model(type(p.world.section))
            return reverse(route.name, args=[section_type.pk, p.world.section.pk])
        kwargs = {}
        for param in route.params:
            if param == "school_slug":
                kwargs[param] = p.world.school.slug
            elif param == "pk":
                kwargs[param] = API_OBJECTS[api_basename(route.name)](p.world)
            elif param == "id":  # the admin's set-password page of a user
                kwargs[param] = p.world.teacher.pk
            elif param == "object_id":
                model = route.name.removeprefix("admin:").rsplit("_", 1)[0]
                kwargs[param] = ADMIN_OBJECTS[model](p)
            elif param in URL_OBJECTS:
                kwargs[param] = URL_OBJECTS[param](p.world)
            else:
                kwargs[param] = OTHER_PARAMS[param](p)
        return reverse(route.name, kwargs=kwargs)


_clients: list[Client] = []


def _client() -> Client:
    """One test client for the whole sweep: a new one loads the middleware again, and WhiteNoise
    reads every static file each time (a tenth of a second a request)."""
    if not _clients:
        _clients.append(Client(raise_request_exception=False))
    client = _clients[0]
    client.cookies.clear()
    return client


def ask(p: People, role: str, route: Route, url: str) -> int:
    """What `role` gets from the URL, in a savepoint rolled back afterwards."""
    cache.clear()  # login throttles, cached portal pages and API throttles start from nothing
    with transaction.atomic():
        client = _client()
        headers = {}
        user = p.users[role]
        if route.is_api and role in TOKEN_ROLES:
            headers["HTTP_AUTHORIZATION"] = f"Bearer {p.tokens[role]}"
        elif user is not None:
            client.force_login(user)
        response = client.get(url, **headers)
        if response.status_code == 405:
            if route.is_api:
                response = client.post(
                    url, json.dumps({"reason": "x"}), content_type="application/json", **headers
                )
            else:
                response = client.post(
                    url,
                    {"reason": "x", "value": "3", "status": "declined"},
                    HTTP_HX_REQUEST="true",
                    **headers,
                )
        transaction.set_rollback(True)
    return response.status_code


# --- The tests -------------------------------------------------------------------------------------


def test_every_url_pattern_has_a_row_in_the_matrix():
    missing = [r.key for r in ROUTES if r.key not in EXPECTED]
    assert not missing, (
        "Add these URL patterns to MATRIX in tests/site/test_permissions.py:\n" + "\n".join(missing)
    )
    stale = sorted(set(EXPECTED) - {r.key for r in ROUTES})
    assert not stale, "These rows of MATRIX name no URL pattern any more:\n" + "\n".join(stale)
    assert all(len(row) == len(ROLES) for row in EXPECTED.values())


def test_every_admin_model_has_its_rows_and_an_object():
    registered = {f"{m._meta.app_label}_{m._meta.model_name}" for m in admin_site._registry}
    assert registered == set(ADMIN_MODELS), "Give every model of the admin a row in ADMIN_MODELS"
    assert registered == set(ADMIN_OBJECTS)


def _swept() -> list:
    def marks(key: str) -> list:
        return [pytest.mark.xfail(reason=KNOWN_BUGS[key], strict=True)] if key in KNOWN_BUGS else []

    return [pytest.param(r, id=r.key, marks=marks(r.key)) for r in ROUTES if r.key in EXPECTED]


@pytest.mark.parametrize("route", _swept())
def test_each_user_gets_what_the_matrix_says(people, route):
    url = url_of(route, people)
    got = tuple(ask(people, role, route, url) for role in ROLES)
    expected = EXPECTED[route.key]
    wrong = [
        f"  {role}: expected {want}, got {have}"
        for role, want, have in zip(ROLES, expected, got, strict=True)
        if want != have
    ]
    assert not wrong, f"{route.key} ({url}):\n" + "\n".join(wrong)


def test_the_sweep_really_writes_nothing_between_users(people):
    # The savepoint around each user: a teacher's POST that voids evidence is gone before the
    # next user asks, so every row of the matrix is independent of the order of ROLES.
    route = next(r for r in ROUTES if r.key == "gradebook:evidence_void")
    url = url_of(route, people)
    evidence_id = int(re.search(r"/evidence/(\d+)/", url)[1])
    assert ask(people, "teacher", route, url) in (200, 302)
    with scopes_disabled():
        assert Evidence.objects.get(pk=evidence_id).voided_at is None
