"""The core app: tenancy (districts, schools, memberships), people, the framework of targets,
grading policies, the audit trail and the calculation engine. It imports no other app."""
