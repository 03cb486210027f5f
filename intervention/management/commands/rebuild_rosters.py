"""`python manage.py rebuild_rosters --school SLUG [--dry-run]`: rebuild the open cycle's rosters."""

from __future__ import annotations

from django.core.exceptions import ValidationError
from django.core.management.base import BaseCommand, CommandError

from intervention.models import WEEKDAY_NAMES, InterventionCycle
from intervention.services import roster_rebuild
from mastery.models import School
from mastery.tenancy import enter_school


class Command(BaseCommand):
    help = "Rebuild the intervention rosters of a school's open cycle from its mastery records."

    def add_arguments(self, parser):
        parser.add_argument("--school", required=True, help="The school's slug.")
        parser.add_argument(
            "--dry-run", action="store_true", help="Show what would change; write nothing."
        )

    def handle(self, *args, school, dry_run, **options):
        found = School.objects.filter(slug=school).first()
        if found is None:
            raise CommandError(f"No school with the slug {school!r}.")
        with enter_school(found):
            cycle = InterventionCycle.objects.filter(
                school=found, status=InterventionCycle.Status.OPEN
            ).first()
            if cycle is None:
                raise CommandError(f"{found.name} has no open intervention cycle; open one first.")
            try:
                plan = roster_rebuild(school=found, cycle=cycle, dry_run=dry_run)
            except ValidationError as exc:
                raise CommandError(" ".join(exc.messages)) from exc
        verb = "Would build" if dry_run else "Built"
        self.stdout.write(f"{verb} cycle {cycle.number} of {found.name}: {plan.summary()}.")
        for weekday in sorted(
            {g.weekday for g in plan.groups} | {e.weekday for e in plan.waitlist}
        ):
            groups = [g for g in plan.groups if g.weekday == weekday]
            waiting = [e for e in plan.waitlist if e.weekday == weekday]
            self.stdout.write(
                f"  {WEEKDAY_NAMES[weekday]}: {len(groups)} groups, "
                f"{sum(len(g.student_ids) for g in groups)} students, {len(waiting)} waiting"
            )
        self.stdout.write(
            f"Compared with the rosters now: {plan.added} added, {plan.removed} removed, "
            f"{plan.moved} moved, {plan.unchanged} unchanged."
        )
        if dry_run:
            self.stdout.write("Dry run: nothing was written.")
