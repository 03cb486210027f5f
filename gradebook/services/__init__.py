"""Writes of the gradebook, one module per job. Import a service from its module: nothing is
re-exported here.

- evidence.py: reading a typed score (score_number, scale_value, parse_score), EvidenceError,
  recording and voiding evidence (evidence_record, evidence_void), recomputing many pairs
  (pairs_recompute);
- grid.py: the scoring grid: a cell as typed (parse_entry, evidence_enter, evidence_clear), undo
  (evidence_undo), "fill empty cells" (evidence_fill), comments (feedback_save), each user's undo
  stack of a grid (scoring_undo_push, scoring_undo_pop), and what the scoring pages call: a cell
  or a fill with its undo entry (score_enter, fill_enter);
- reassessment.py: recording a reassessment (reassessment_record, submission_token);
- requests.py: reassessment requests (request_create, requests_accept, request_decline,
  request_withdraw, requests_expire) and the rules they are checked against (rules_save,
  course_rules_remove); a reassessment's score completes a request (evidence.py);
- assessments.py: creating and editing an assessment (assessment_save);
- habits.py: habit-of-work scores (habit_score_record);
- feedback.py: the school's feedback interval (feedback_interval_save).

The shared rules: every service takes the school explicitly, keyword-only, runs in one
transaction, and either does everything or nothing: invalid input raises `EvidenceError` (a
ValidationError with a message per field) before anything is written. The modules import
downwards only: evidence at the bottom; grid on it; reassessment on both; requests, assessments
and habits on evidence.
"""
