"""`manage.py migrate`, as the owner of the tables when MIGRATE_DATABASE_URL names one.

Production connects as a role that owns nothing, so that row-level security binds it
(mastery.rls); creating tables and their policies needs the owner. With MIGRATE_DATABASE_URL set,
this command connects as that URL's role instead of DATABASE_URL's, and the post-migrate step
(mastery.rls.after_migrate) grants the app's role (APP_DB_ROLE) what it needs.
"""

from __future__ import annotations

import dj_database_url
from django.conf import settings
from django.core.management.commands import migrate
from django.db import DEFAULT_DB_ALIAS, connections

from mastery import rls

# Who connects and where to; the database stays DATABASE_URL's (under the test runner: the test
# database), whatever name the owner's URL carries.
OWNER_KEYS = ("USER", "PASSWORD", "HOST", "PORT")


class Command(migrate.Command):
    help = migrate.Command.help + " As MIGRATE_DATABASE_URL's role (the owner) when that is set."

    def handle(self, *args, **options):
        database = options["database"]
        owner_url = getattr(settings, "MIGRATE_DATABASE_URL", "")
        connection = connections[database]
        saved = {key: connection.settings_dict.get(key) for key in OWNER_KEYS}
        if owner_url and database == DEFAULT_DB_ALIAS:
            owner = dj_database_url.parse(owner_url)
            connection.close()
            connection.settings_dict.update({key: owner[key] for key in OWNER_KEYS})
        try:
            # FORCE row-level security binds the owner too: a data migration reads and writes
            # every school's rows.
            with rls.Wall(all_schools=True, using=database):
                return super().handle(*args, **options)
        finally:
            if owner_url and database == DEFAULT_DB_ALIAS:
                connection.close()
                connection.settings_dict.update(saved)
