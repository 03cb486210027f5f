"""`python manage.py export_student_records --school SLUG --student LOCAL_ID --out FILE.json`."""

from __future__ import annotations

import json
from pathlib import Path

from django.core.management.base import BaseCommand, CommandError
from django.core.serializers.json import DjangoJSONEncoder

from gradebook.models import Student
from mastery.models import School
from mastery.tenancy import enter_school
from reports.services.records import student_records_export


class Command(BaseCommand):
    help = "Write everything the school holds about one student to a JSON file (a records request)."

    def add_arguments(self, parser):
        parser.add_argument("--school", required=True, help="The school's slug.")
        parser.add_argument("--student", required=True, help="The student number (local id).")
        parser.add_argument("--out", required=True, help="Where to write the JSON file.")

    def handle(self, *args, school, student, out, **options):
        found = School.objects.filter(slug=school).first()
        if found is None:
            raise CommandError(f"No school with the slug {school!r}.")
        path = Path(out)
        if not path.parent.exists():
            raise CommandError(f"The folder {path.parent} does not exist.")
        with enter_school(found):
            pupil = (
                Student.objects.filter(school=found, local_id=student)
                .select_related("user")
                .first()
            )
            if pupil is None:
                raise CommandError(f"No student number {student!r} in {found.name}.")
            records = student_records_export(school=found, student=pupil, source="command line")
        path.write_text(
            json.dumps(records, cls=DjangoJSONEncoder, ensure_ascii=False, indent=2),
            encoding="utf-8",
        )
        counts = ", ".join(
            f"{len(records[key])} {key.replace('_', ' ')}"
            for key in ("enrollments", "evidence", "mastery")
        )
        self.stdout.write(f"Wrote {path} for {pupil.display_name} ({counts}).")
