"""The schema stays ready for a distributed engine (docs/design.md section 4, the Citus rules):
a tenant table's primary key and unique keys include `school_id`, and so does every foreign key
from one tenant table to another (so that both rows sit on the same shard).

Today's schema breaks these rules in many places: they are listed in `citus_violations.txt`
beside this file. The list may only shrink: a new table, key or reference that breaks a rule
fails here, and so does a listed violation that has been fixed (take it off the list).
"""

from __future__ import annotations

from pathlib import Path

import pytest
from django.db import IntegrityError, connection, transaction
from django_scopes import scopes_disabled

from gradebook.models import SchoolYear, YearEndMastery
from mastery.tenancy import all_schools

KNOWN = Path(__file__).with_name("citus_violations.txt")

# Every unique index (primary keys, unique constraints and unique indexes alike) and every
# foreign key between two tables that both carry school_id; global tables (districts, schools,
# users) become reference tables and may be referred to freely.
CATALOGUE = """
WITH tenant AS (
    SELECT c.oid, c.relname
    FROM pg_class c
    JOIN pg_namespace n ON n.oid = c.relnamespace
    JOIN pg_attribute a ON a.attrelid = c.oid AND a.attname = 'school_id' AND NOT a.attisdropped
    WHERE n.nspname = current_schema() AND c.relkind IN ('r', 'p')
)
SELECT t.relname,
       CASE WHEN i.indisprimary THEN 'primary key' ELSE 'unique' END,
       ARRAY(
           SELECT coalesce(a.attname::text, '(expression)')
           FROM unnest(i.indkey) WITH ORDINALITY AS k(attnum, n)
           LEFT JOIN pg_attribute a ON a.attrelid = t.oid AND a.attnum = k.attnum
           ORDER BY k.n
       ),
       ''
FROM tenant t
JOIN pg_index i ON i.indrelid = t.oid AND i.indisunique
UNION ALL
SELECT t.relname,
       'foreign key',
       ARRAY(
           SELECT a.attname::text
           FROM unnest(con.conkey) WITH ORDINALITY AS k(attnum, n)
           JOIN pg_attribute a ON a.attrelid = t.oid AND a.attnum = k.attnum
           ORDER BY k.n
       ),
       r.relname
FROM tenant t
JOIN pg_constraint con ON con.conrelid = t.oid AND con.contype = 'f'
JOIN tenant r ON r.oid = con.confrelid
"""


def keys() -> list[tuple[str, str, list[str], str]]:
    """(table, kind, columns, referenced table) of every key and tenant-to-tenant reference."""
    with connection.cursor() as cursor:
        cursor.execute(CATALOGUE)
        return cursor.fetchall()


def violations() -> set[str]:
    found = set()
    for table, kind, columns, referenced in keys():
        if "school_id" in columns:
            continue
        line = f"{table}: {kind} ({', '.join(columns)})"
        found.add(f"{line} -> {referenced}" if referenced else line)
    return found


def known() -> set[str]:
    lines = KNOWN.read_text(encoding="utf-8").splitlines()
    return {line.strip() for line in lines if line.strip() and not line.startswith("#")}


def test_no_new_table_key_or_reference_breaks_the_citus_rules(db):
    new = sorted(violations() - known())
    assert not new, (
        "These keys or references leave school_id out (docs/design.md section 4): lead unique "
        "keys with school, and refer to another tenant table by (school_id, id).\n" + "\n".join(new)
    )


def test_the_list_of_known_violations_only_shrinks(db):
    fixed = sorted(known() - violations())
    assert not fixed, "Fixed: take these lines off tests/site/citus_violations.txt.\n" + "\n".join(
        fixed
    )


def test_the_check_sees_the_rules_it_enforces(db):
    # The catalogue query is what the test rests on: it must find the keys of a table it knows.
    found = violations()
    assert any(v.startswith("gradebook_evidence: primary key (id)") for v in found)
    assert any(
        v.startswith("gradebook_evidence: foreign key (student_id)")
        and v.endswith("gradebook_student")
        for v in found
    )
    # A unique key that includes school is read, and not reported.
    membership = [cols for table, kind, cols, _ in keys() if table == "mastery_membership"]
    assert ["school_id", "user_id", "role"] in membership
    assert not any(v.startswith("mastery_membership: unique") for v in found)


def test_a_new_tables_reference_cannot_cross_schools(world_a, world_b):
    """The composite keys of a table made after the rules (mastery/citus.py) hold in the database:
    a year-end record of school A naming school B's student is refused, whatever the ORM does."""
    with scopes_disabled(), all_schools():
        year = SchoolYear.objects.create(
            school=world_a.school, name="2025-2026", starts_on="2025-08-15", ends_on="2026-06-15"
        )
        with pytest.raises(IntegrityError), transaction.atomic():
            with connection.cursor() as cursor:
                cursor.execute("SET CONSTRAINTS ALL IMMEDIATE")
            YearEndMastery.objects.create(
                school=world_a.school,
                year=year,
                student=world_b.students[0],
                target=world_a.targets[0],
            )
        YearEndMastery.objects.create(
            school=world_a.school, year=year, student=world_a.students[0], target=world_a.targets[0]
        )
        assert YearEndMastery.objects.filter(school=world_a.school).count() == 1
