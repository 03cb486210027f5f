"""Grading: how evidence becomes mastery under a school's policies, one entry point per job.

- which policy governs a student and target: grading/policies.py (the one rule, for the Python
  path, the SQL path and the selectors);
- a policy change and the recompute it queues: grading/services.py, grading/tasks.py;
- one pair recomputed in the write's transaction: grading/pair.py (`pair_recompute`);
- a whole school: grading/school.py (`mastery_recompute_school`), its SQL: grading/sql.py;
- levels as of a past date: grading/as_of.py; a change previewed before saving: grading/preview.py;
- the policy pages: grading/views.py.

It sits on the core (mastery: the policy model and the engine) and on the gradebook's models
(evidence in, Mastery records out), under the gradebook's services, which call it when a score is
written. It has no models of its own.
"""
