"""`python manage.py import_case FILE_OR_URL --school SLUG [--dry-run]`: a CASE 1.0 framework.

FILE_OR_URL is a CFPackage (CASE 1.0 JSON): a file, or an https URL such as a CASE server's
`…/ims/case/v1p0/CFPackages/{id}` (fetched with the limits of mastery.standards.fetch). The
framework goes to the school's district (or to the school, when it has none), exactly as the
school's standards page would import it. A package with any problem is refused whole: every
problem is printed at its JSON path, nothing is written, and the command exits with status 1.
"""

from __future__ import annotations

from django.core.management.base import BaseCommand, CommandError

from mastery.models import School
from mastery.standards.case import PackageError, package_parse
from mastery.standards.fetch import FetchError, source_read
from mastery.standards.importer import framework_import


class Command(BaseCommand):
    help = "Import a 1EdTech CASE 1.0 CFPackage (a file or an https URL) as a standards framework."

    def add_arguments(self, parser):
        parser.add_argument("source", metavar="FILE_OR_URL", help="a CFPackage file or https URL")
        parser.add_argument(
            "--school",
            metavar="SLUG",
            required=True,
            help="the importing school: the framework goes to its district (or to it)",
        )
        parser.add_argument(
            "--dry-run", action="store_true", help="count what would change, write nothing"
        )

    def handle(self, *args, source: str, school: str, dry_run: bool, **options):
        target = School.objects.filter(slug=school).first()
        if target is None:
            raise CommandError(f"No school with the slug “{school}”.")
        try:
            package = package_parse(source_read(source))
            result = framework_import(
                school=target, package=package, source=source, imported_by=None, dry_run=dry_run
            )
        except FetchError as exc:
            raise CommandError(str(exc)) from exc
        except PackageError as exc:
            for problem in exc.errors:
                self.stderr.write(problem)
            raise CommandError(
                f"{len(exc.errors)} problem{'s' if len(exc.errors) != 1 else ''}; "
                "nothing was imported."
            ) from exc
        for repair in result.repairs:
            self.stdout.write(f"repaired {repair}")
        verb = "Would import" if dry_run else "Imported"
        self.stdout.write(
            f"{verb} {result.summary()} "
            f"({result.item_total} items, {result.association_total} associations)"
        )
