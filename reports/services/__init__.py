"""Writes of the portals, one module per job. Import a service from its module: nothing is
re-exported here.

- goals.py: students' goals (goal_create, goal_achieve);
- invitations.py: guardian invitations (invitation_create, invitation_find, invitation_needs,
  invitation_accept);
- batches.py: report batches (batch_students, batch_start, batch_render_file, batch_zip) and a
  student's report PDF on disk (report_dir, report_pdf_file);
- records.py: a student's records request (student_records_export).

The modules import none of each other. batches.py queues the tasks of reports.tasks, whose task
bodies import batches.py in turn (the one place an import inside a function is allowed).
"""
