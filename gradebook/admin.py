from django.contrib import admin

from gradebook.models import (
    Assessment,
    AssessmentTarget,
    Course,
    CourseTarget,
    Enrollment,
    Evidence,
    GradingPeriod,
    Guardianship,
    Habit,
    HabitScore,
    Mastery,
    Section,
    SectionTeacher,
    Student,
    Term,
)
from mastery.admin.site import TenantAdmin, TenantInline, admin_site


class GradingPeriodInline(TenantInline):
    model = GradingPeriod


@admin.register(Term, site=admin_site)
class TermAdmin(TenantAdmin):
    list_display = ["name", "starts_on", "ends_on", "school"]
    list_filter = ["school"]
    inlines = [GradingPeriodInline]


class CourseTargetInline(TenantInline):
    model = CourseTarget
    autocomplete_fields = ["target"]


@admin.register(Course, site=admin_site)
class CourseAdmin(TenantAdmin):
    list_display = ["code", "name", "department", "grade_levels", "school"]
    list_filter = ["school", "department"]
    search_fields = ["code", "name"]
    inlines = [CourseTargetInline]


class SectionTeacherInline(TenantInline):
    model = SectionTeacher
    autocomplete_fields = ["teacher"]


class EnrollmentInline(TenantInline):
    model = Enrollment
    autocomplete_fields = ["student"]


@admin.register(Section, site=admin_site)
class SectionAdmin(TenantAdmin):
    list_display = ["__str__", "term", "period", "room", "school"]
    list_filter = ["school", "term", "course"]
    search_fields = ["name", "course__name", "course__code"]
    inlines = [SectionTeacherInline, EnrollmentInline]


class GuardianshipInline(TenantInline):
    model = Guardianship
    autocomplete_fields = ["guardian"]


@admin.register(Student, site=admin_site)
class StudentAdmin(TenantAdmin):
    list_display = [
        "local_id",
        "last_name",
        "first_name",
        "grade_level",
        "preferred_language",
        "is_active",
    ]
    list_filter = ["school", "grade_level", "preferred_language", "is_active"]
    search_fields = ["local_id", "last_name", "first_name"]
    autocomplete_fields = ["user"]
    inlines = [GuardianshipInline]


class AssessmentTargetInline(TenantInline):
    model = AssessmentTarget
    autocomplete_fields = ["target"]


@admin.register(Assessment, site=admin_site)
class AssessmentAdmin(TenantAdmin):
    list_display = ["title", "kind", "assessed_on", "course", "section", "tier"]
    list_filter = ["school", "kind", "course"]
    search_fields = ["title"]
    date_hierarchy = "assessed_on"
    autocomplete_fields = ["original"]
    inlines = [AssessmentTargetInline]


@admin.register(Evidence, site=admin_site)
class EvidenceAdmin(TenantAdmin):
    read_only = True
    list_display = [
        "student",
        "target",
        "assessment",
        "score",
        "status",
        "assessed_on",
        "voided_at",
    ]
    list_filter = ["school", "status", "kind"]
    search_fields = ["student__last_name", "student__local_id", "target__code"]
    list_select_related = ["student", "target", "assessment"]


@admin.register(Mastery, site=admin_site)
class MasteryAdmin(TenantAdmin):
    read_only = True
    list_display = [
        "student",
        "target",
        "score",
        "level",
        "mastered",
        "evidence_count",
        "computed_at",
    ]
    list_filter = ["school", "mastered"]
    search_fields = ["student__last_name", "student__local_id", "target__code"]
    list_select_related = ["student", "target"]


@admin.register(Habit, site=admin_site)
class HabitAdmin(TenantAdmin):
    list_display = ["name", "position", "school"]
    list_filter = ["school"]


@admin.register(HabitScore, site=admin_site)
class HabitScoreAdmin(TenantAdmin):
    read_only = True
    list_display = ["student", "habit", "section", "score", "assessed_on"]
    list_filter = ["school", "habit"]
    list_select_related = ["student", "habit", "section__course"]
