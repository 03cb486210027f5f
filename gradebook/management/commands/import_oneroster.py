"""`python manage.py import_oneroster PATH [--dry-run] [--school SLUG]`: rostering from the SIS.

PATH is a OneRoster 1.2 CSV export: a zip file or a directory of CSV files with manifest.csv.
Without --school the whole package is imported (a district's export): every school org becomes a
school (created when new, under its district), so this runs with django-scopes disabled. With
--school only that school's rows are imported, inside its scope, as the upload page does.
Exits with status 1, having written nothing, when any row has a problem.
"""

from __future__ import annotations

from django.core.management.base import BaseCommand, CommandError

from gradebook.oneroster.package import PackageError, read_path
from gradebook.oneroster.report import ImportReport
from gradebook.oneroster.service import oneroster_import
from mastery.models import School
from mastery.tenancy import all_schools, enter_school


class Command(BaseCommand):
    help = "Import a OneRoster 1.2 CSV package (a zip file or a directory) into the roster."

    def add_arguments(self, parser):
        parser.add_argument("path", help="the zip file or the directory of CSV files")
        parser.add_argument(
            "--dry-run",
            action="store_true",
            help="check the files and report what would change, without writing anything",
        )
        parser.add_argument(
            "--school", metavar="SLUG", help="import only this school's rows (as its admin would)"
        )

    def handle(self, *args, path: str, dry_run: bool, school: str | None, **options):
        try:
            files = read_path(path)
        except (PackageError, OSError) as exc:
            raise CommandError(str(exc)) from exc
        target = None
        if school is not None:
            target = School.objects.filter(slug=school).first()
            if target is None:
                raise CommandError(f"No school with the slug “{school}”.")
        # A district's package spans schools, so the scope is lifted explicitly; one school's
        # import runs inside that school's scope like the upload page.
        with enter_school(target) if target is not None else all_schools():
            report = oneroster_import(files=files, school=target, dry_run=dry_run)
        self.print_report(report)
        if not report.ok:
            raise CommandError(
                f"{len(report.errors)} problem{'s' if len(report.errors) != 1 else ''}; "
                "nothing was imported."
            )

    def print_report(self, report: ImportReport) -> None:
        for problem in report.errors:
            where = f"{problem.file}:{problem.line}" if problem.line else problem.file or "package"
            self.stderr.write(f"{where}: {problem.message}")
        if not report.ok:
            return
        for entity, tally in report.rows():
            self.stdout.write(
                f"{entity:>17}: {tally.created} created, {tally.updated} updated, "
                f"{tally.withdrawn} withdrawn or removed, {tally.unchanged} unchanged"
            )
        for file, why, count in report.not_imported_rows():
            self.stdout.write(
                f"not imported: {file}: {count} row{'s' if count != 1 else ''} ({why})"
            )
        for note in report.warnings:
            where = f"{note.file}:{note.line}" if note.line else note.file
            self.stdout.write(f"note: {where}: {note.message}")
        verdict = "Dry run: nothing was written." if report.dry_run else "Imported."
        self.stdout.write(
            self.style.SUCCESS(
                f"{verdict} {report.created} created, {report.updated} updated, "
                f"{report.withdrawn} withdrawn or removed."
            )
        )
