"""Reads of the gradebook, one module per page or job. Every function takes the school and
filters every table by it; the page selectors run a constant number of queries whatever the size
of the class (the query-count tests pin them).

- common: how a cell shows a score, levels, a course's targets, a section's students, records;
- home: a teacher's sections, what is left to score, open requests;
- grid: the section grid;  scoring: an assessment's scoring grid and its undo stack;
- cells: one student on one target, and who could reassess;
- students: a student's progress, a target with its descriptors, habits of work;
- feedback: the students owed feedback (none within the school's interval), by section.
"""
