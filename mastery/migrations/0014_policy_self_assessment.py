# Issue [13] item 4: a policy option that lets students' self-assessments count (off by default),
# and the audit trail's object type for self-assessments.

from django.db import migrations, models


class Migration(migrations.Migration):
    dependencies = [
        ("mastery", "0013_target_alignment"),
    ]

    operations = [
        migrations.AddField(
            model_name="gradingpolicy",
            name="count_self_assessment",
            field=models.BooleanField(
                default=False,
                help_text=(
                    "Students' ratings of themselves count as evidence, like a score on the day "
                    "they were made. Off: they are shown beside the teacher's scores and never "
                    "counted."
                ),
            ),
        ),
        migrations.AlterField(
            model_name="auditevent",
            name="object_type",
            field=models.CharField(
                choices=[
                    ("evidence", "Evidence"),
                    ("policy", "Grading policy"),
                    ("scale", "Proficiency scale"),
                    ("target", "Learning target"),
                    ("roster", "Roster placement"),
                    ("membership", "Membership"),
                    ("habit", "Habit score"),
                    ("competency", "Competency"),
                    ("attendance", "Intervention attendance"),
                    ("records", "Student records"),
                    ("account", "Account"),
                    ("intervention", "Intervention settings"),
                    ("request", "Reassessment request"),
                    ("rules", "Reassessment rules"),
                    ("school", "School settings"),
                    ("year", "School year"),
                    ("framework", "Standards framework"),
                    ("self", "Self-assessment"),
                ],
                max_length=12,
            ),
        ),
    ]
