"""Keys that include the school, for tables Django keys by `id` (docs/design.md section 4).

The Citus rules ask every tenant table's primary key and every reference between tenant tables to
include `school_id`, so that a row and what it refers to live on the same shard. Django keys a
model by one column and refers to it by one column, so a new tenant table is made the Django way
and then given its keys on PostgreSQL by a migration operation from here:

- its primary key becomes (school_id, id): Django still reads and writes rows by `id`, which stays
  unique (an identity column), and nothing refers to the table by `id` alone;
- each reference it makes to another tenant table becomes a composite foreign key
  (school_id, x_id) → (school_id, id), so a row can never point at another school's row (the
  model's ForeignKey is declared with `db_constraint=False`: Django still joins, cascades and sets
  null in Python; the database holds the constraint). The referenced table gets a unique key on
  (school_id, id) if it has none yet.

SQLite (the demo) keeps Django's own keys: these operations do nothing there. The older tables
that still break the rules are listed in tests/site/citus_violations.txt ([19] moves them).
"""

from __future__ import annotations

from collections.abc import Mapping

from django.db import migrations


def _school_unique(table: str) -> str:
    """A unique key (school_id, id) on `table`, if it has no key on exactly those columns."""
    name = f"{table}_school_id_id_key"[:63]
    return f"""
DO $$
BEGIN
    IF NOT EXISTS (
        SELECT 1 FROM pg_index i
        JOIN pg_class c ON c.oid = i.indrelid
        WHERE c.relname = '{table}' AND i.indisunique
          AND (SELECT array_agg(a.attname::text ORDER BY k.n)
               FROM unnest(i.indkey) WITH ORDINALITY AS k(attnum, n)
               JOIN pg_attribute a ON a.attrelid = c.oid AND a.attnum = k.attnum)
              = ARRAY['school_id', 'id']
    ) THEN
        ALTER TABLE {table} ADD CONSTRAINT {name} UNIQUE (school_id, id);
    END IF;
END $$;
"""


def tenant_keys(
    table: str, *, references: Mapping[str, str] | None = None, primary: bool = True
) -> migrations.RunPython:
    """The operation giving `table` the school in its keys: the primary key (school_id, id)
    unless `primary` is False (an older table whose key is still listed), and a composite
    foreign key for each column → referenced table of `references`."""
    references = dict(references or {})

    def forward(apps, schema_editor) -> None:
        if schema_editor.connection.vendor != "postgresql":
            return
        run = schema_editor.execute
        if primary:
            run(f"ALTER TABLE {table} DROP CONSTRAINT IF EXISTS {table}_pkey")
            run(f"ALTER TABLE {table} ADD CONSTRAINT {table}_pkey PRIMARY KEY (school_id, id)")
        for column, referenced in references.items():
            run(_school_unique(referenced))
            name = f"{table}_{column}_school_fk"[:63]
            run(
                f"ALTER TABLE {table} ADD CONSTRAINT {name} FOREIGN KEY (school_id, {column}) "
                f"REFERENCES {referenced} (school_id, id) DEFERRABLE INITIALLY DEFERRED"
            )

    def backward(apps, schema_editor) -> None:
        if schema_editor.connection.vendor != "postgresql":
            return
        for column in references:
            name = f"{table}_{column}_school_fk"[:63]
            schema_editor.execute(f"ALTER TABLE {table} DROP CONSTRAINT IF EXISTS {name}")
        if primary:
            schema_editor.execute(f"ALTER TABLE {table} DROP CONSTRAINT IF EXISTS {table}_pkey")
            schema_editor.execute(
                f"ALTER TABLE {table} ADD CONSTRAINT {table}_pkey PRIMARY KEY (id)"
            )

    return migrations.RunPython(forward, backward, elidable=False)
