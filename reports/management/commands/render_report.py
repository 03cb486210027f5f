"""`python manage.py render_report --school SLUG --student LOCAL_ID [--lang es] --out FILE.pdf`."""

from __future__ import annotations

from pathlib import Path

from django.conf import settings
from django.core.management.base import BaseCommand, CommandError

from gradebook.models import Student
from mastery.models import School
from mastery.tenancy import enter_school
from reports.rendering import report_language, report_pdf


class Command(BaseCommand):
    help = "Render one student's progress report to a PDF file."

    def add_arguments(self, parser):
        parser.add_argument("--school", required=True, help="The school's slug.")
        parser.add_argument("--student", required=True, help="The student number (local id).")
        parser.add_argument(
            "--lang",
            choices=[code for code, _ in settings.LANGUAGES],
            help="Default: the family's language.",
        )
        parser.add_argument("--out", required=True, help="Where to write the PDF.")

    def handle(self, *args, school, student, lang, out, **options):
        found = School.objects.filter(slug=school).first()
        if found is None:
            raise CommandError(f"No school with the slug {school!r}.")
        with enter_school(found):
            pupil = Student.objects.filter(school=found, local_id=student).first()
            if pupil is None:
                raise CommandError(f"No student number {student!r} in {found.name}.")
            language = report_language(pupil, lang)
            pdf = report_pdf(school=found, student=pupil, language=language)
        path = Path(out)
        if path.parent and not path.parent.exists():
            raise CommandError(f"The folder {path.parent} does not exist.")
        path.write_bytes(pdf)
        self.stdout.write(
            f"Wrote {path} ({len(pdf) // 1024} KB, {language}) for {pupil.display_name}."
        )
