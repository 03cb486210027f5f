"""`manage.py evidence_files_check`: every evidence file the database names is in the file store,
with the bytes it was stored with (after a restore: the database and the files match)."""

from __future__ import annotations

import hashlib

from django.core.management.base import BaseCommand, CommandError

from gradebook.models import EvidenceFile
from mastery.tenancy import all_schools


class Command(BaseCommand):
    help = (
        "Check that every evidence file (and thumbnail) in the database is in the file store "
        "with its recorded SHA-256. Exits with an error listing the missing or changed ones."
    )

    def handle(self, *args, **options):
        missing: list[str] = []
        changed: list[str] = []
        count = 0
        with all_schools():  # a restore is checked whole, across schools
            for found in EvidenceFile.objects.all().order_by("id").iterator():
                count += 1
                storage = found.file.storage
                if found.thumbnail and not storage.exists(found.thumbnail.name):
                    missing.append(f"{found.id} {found.thumbnail.name} (thumbnail)")
                if not storage.exists(found.file.name):
                    missing.append(f"{found.id} {found.file.name}")
                    continue
                digest = hashlib.sha256()
                with storage.open(found.file.name, "rb") as handle:
                    for chunk in iter(lambda h=handle: h.read(1 << 20), b""):
                        digest.update(chunk)
                if digest.hexdigest() != found.sha256:
                    changed.append(f"{found.id} {found.file.name}")
        for line in missing:
            self.stderr.write(f"missing: {line}")
        for line in changed:
            self.stderr.write(f"changed: {line}")
        if missing or changed:
            raise CommandError(
                f"{len(missing)} missing and {len(changed)} changed of {count} evidence files."
            )
        self.stdout.write(f"All {count} evidence files are in the store, unchanged.")
