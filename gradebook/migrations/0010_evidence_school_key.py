"""The evidence table's unique key (school_id, id), built without blocking scores.

The evidence files and submissions (0011) refer to evidence by (school_id, id), as the Citus
rules ask (mastery/citus.py), and that reference needs a unique key on those columns. On the
biggest table (about 18 million rows in a district) `ALTER TABLE … ADD CONSTRAINT UNIQUE` would
stop every teacher's scoring for as long as the index takes to build; built CONCURRENTLY here,
outside a transaction, scores keep being recorded meanwhile, and 0011 finds the key in place.
"""

from django.db import migrations

INDEX = "gradebook_evidence_school_id_id_key"


def forward(apps, schema_editor) -> None:
    if schema_editor.connection.vendor != "postgresql":
        return
    with schema_editor.connection.cursor() as cursor:
        # An earlier attempt that was interrupted leaves an invalid index of the same name.
        cursor.execute(
            "SELECT NOT i.indisvalid FROM pg_index i JOIN pg_class c ON c.oid = i.indexrelid "
            "WHERE c.relname = %s",
            [INDEX],
        )
        row = cursor.fetchone()
        if row and row[0]:
            cursor.execute(f"DROP INDEX CONCURRENTLY {INDEX}")
        cursor.execute(
            f"CREATE UNIQUE INDEX CONCURRENTLY IF NOT EXISTS {INDEX} "
            "ON gradebook_evidence (school_id, id)"
        )


def backward(apps, schema_editor) -> None:
    if schema_editor.connection.vendor != "postgresql":
        return
    schema_editor.execute(f"DROP INDEX CONCURRENTLY IF EXISTS {INDEX}")


class Migration(migrations.Migration):
    atomic = False

    dependencies = [("gradebook", "0010_evidence_with_feedback")]

    operations = [migrations.RunPython(forward, backward, elidable=False)]
