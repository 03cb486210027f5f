"""Django's PostgreSQL backend with the row-level security wall put into every transaction
(mastery.rls.statement). Settings choose it for a postgres:// DATABASE_URL (config/settings.py).

A backend rather than a signal: the wrapper is there from the connection's first statement
(the test database's creation, a migration), before any app is ready, and is never removed by
code that pushes and pops its own execute wrappers.
"""

from __future__ import annotations

from django.db.backends.postgresql import base

from mastery import rls


class DatabaseOperations(base.DatabaseOperations):
    def last_executed_query(self, cursor, sql, params):
        # The query log shows the statement the code ran, not the wall's settings before it.
        return rls.without_wall(super().last_executed_query(cursor, sql, params))


class DatabaseWrapper(base.DatabaseWrapper):
    ops_class = DatabaseOperations

    def __init__(self, *args, **kwargs):
        super().__init__(*args, **kwargs)
        # First in the list: the outermost wrapper (a test's own `execute_wrapper` pushes and
        # pops after it).
        self.execute_wrappers.insert(0, rls.statement)
