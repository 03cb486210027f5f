"""A department's learning targets: competencies and targets with descriptors, reorder, CSV import."""

from __future__ import annotations

from dataclasses import dataclass, field
from urllib.parse import urlencode

from django.contrib import messages
from django.core.exceptions import PermissionDenied, ValidationError
from django.http import Http404, HttpResponse
from django.shortcuts import redirect, render
from django.urls import reverse
from django.views.decorators.http import require_POST

from gradebook.permissions import can_edit_department
from mastery.fields import parse_id
from mastery.forms import CompetencyForm, TargetForm, TargetImportForm, add_service_errors
from mastery.models import (
    Competency,
    Department,
    Framework,
    FrameworkItem,
    LearningTarget,
    LevelDescriptor,
)
from mastery.selectors import achievement_levels
from mastery.services import competency_save, target_move, target_save, targets_import_csv
from mastery.standards.selectors import (
    alignment_search,
    frameworks_visible_to,
    item_ancestors,
    item_children,
    items_by_identifier,
    parse_identifier,
    target_alignments,
)


def _department(request, department_id: int, *, edit: bool = False) -> Department:
    department = Department.objects.filter(school=request.school, id=department_id).first()
    if department is None:
        raise Http404("No such department")
    if edit and not can_edit_department(request.access, request.user, department):
        raise PermissionDenied("Only the department's teachers and school admins edit its targets.")
    return department


def _back(request, department) -> str:
    return reverse("gradebook:department_targets", args=[request.school.slug, department.id])


def department_targets(request, school_slug: str, department_id: int):
    department = _department(request, department_id)
    competencies = list(
        Competency.objects.filter(school=request.school, department=department).order_by(
            "position", "code"
        )
    )
    targets = list(
        LearningTarget.objects.filter(school=request.school, department=department)
        .select_related("competency")
        .order_by("position", "code")
    )
    descriptors = {}
    for d in LevelDescriptor.objects.filter(school=request.school, target__in=targets):
        descriptors.setdefault(d.target_id, {})[d.level_value] = d.text
    levels = achievement_levels(request.school)
    by_competency = {c.id: [] for c in competencies}
    for target in targets:
        by_competency.setdefault(target.competency_id, []).append(
            (
                target,
                [(lv, descriptors.get(target.id, {}).get(lv.value)) for lv in reversed(levels)],
            )
        )
    extra = [c for c in {t.competency for t in targets} if c.id not in {x.id for x in competencies}]
    return render(
        request,
        "gradebook/department_targets.html",
        {
            "department": department,
            "groups": [(c, by_competency.get(c.id, [])) for c in [*competencies, *extra]],
            "departments": Department.objects.filter(school=request.school).order_by("name"),
            "can_edit": can_edit_department(request.access, request.user, department),
        },
    )


def _standard_label(item) -> str:
    retired = " (retired)" if item.is_retired else ""
    code = f"{item.human_coding_scheme}: " if item.human_coding_scheme else ""
    return f"{code}{item.full_statement} — {item.framework.title}{retired}"


def _standards(request, target) -> tuple[list[tuple[str, str]] | None, list[str], int]:
    """The standards to offer (the target's own, then the matches of ?q=, then those ticked in a
    refused POST, so a tick from the tree survives the error), the ones it has, and how many the
    search found; None when the school sees no framework."""
    query = request.GET.get("q", "").strip()[:100]
    if not frameworks_visible_to(request.school).exists():
        return None, [], 0
    aligned = [a.item for a in target_alignments(request.school, target)] if target else []
    found = list(alignment_search(request.school, query)) if query else []
    ticked = (
        list(items_by_identifier(request.school, request.POST.getlist("case_items")[:200]).values())
        if request.method == "POST"
        else []
    )
    offered = {str(item.identifier): _standard_label(item) for item in [*aligned, *found, *ticked]}
    return list(offered.items()), [str(item.identifier) for item in aligned], len(found)


# A level of a framework's tree shows at most this many items (the search finds the others): a
# flat framework of 5,000 items stays a page, not a 5,000-checkbox wall.
BRANCH_LIMIT = 200


@dataclass
class StandardNode:
    """An item of the tree picker: ticked-able unless the target already has it (the "Aligned
    standards" list above holds that tick), its children listed when its branch is open."""

    item: FrameworkItem
    url: str
    aligned: bool
    children: list[StandardNode] | None = None
    more: bool = False


@dataclass
class FrameworkBranch:
    framework: Framework
    url: str
    nodes: list[StandardNode] | None = None  # the top level, when this framework is open
    more: bool = False


@dataclass
class StandardsPicker:
    query: str
    found: int | None  # how many matches the search listed (None: no search)
    frameworks: list[FrameworkBranch] = field(default_factory=list)


def _branch_url(query: str, framework: Framework, parent: FrameworkItem | None) -> str:
    params = {"q": query} if query else {}
    params["framework"] = str(framework.pk)
    if parent is not None:
        params["open"] = str(parent.identifier)
    return f"?{urlencode(params)}"


def _level(framework, parent, query: str, aligned: set[str]) -> tuple[list[StandardNode], bool]:
    items = list(
        item_children(framework, parent.identifier if parent else None)[: BRANCH_LIMIT + 1]
    )
    nodes = [
        StandardNode(
            item=item,
            url=_branch_url(query, framework, item),
            aligned=str(item.identifier) in aligned,
        )
        for item in items[:BRANCH_LIMIT]
    ]
    return nodes, len(items) > BRANCH_LIMIT


def _opened(request, framework: Framework) -> tuple[bool, FrameworkItem | None]:
    """?open=<identifier>: the current item of the framework whose children to show (None: the
    top level); False when there is no such item."""
    raw = request.GET.get("open", "")
    if not raw:
        return True, None
    identifier = parse_identifier(raw)
    item = (
        FrameworkItem.objects.filter(
            framework=framework, identifier=identifier, is_retired=False
        ).first()
        if identifier is not None
        else None
    )
    return item is not None, item


def _picker(request, form) -> StandardsPicker | None:
    """The tree picker of the target form: every framework the school sees, closed; the one of
    ?framework= open down to ?open= (its ancestors' levels, then its children). One level is one
    query, so a 5,000-item framework is never read whole."""
    if "case_items" not in form.fields:
        return None
    query = request.GET.get("q", "").strip()[:100]
    aligned = set(form.initial.get("case_items", []))
    picker = StandardsPicker(query=query, found=form.standards_found if query else None)
    open_framework = parse_id(request.GET.get("framework", ""))
    for framework in frameworks_visible_to(request.school).order_by("title", "id"):
        branch = FrameworkBranch(framework=framework, url=_branch_url(query, framework, None))
        picker.frameworks.append(branch)
        if framework.pk != open_framework:
            continue
        found, open_item = _opened(request, framework)
        if not found:
            continue
        branch.nodes, branch.more = _level(framework, None, query, aligned)
        level = branch.nodes
        path = [*item_ancestors(framework, open_item), open_item] if open_item else []
        for step in path:
            node = next((n for n in level if n.item.identifier == step.identifier), None)
            if node is None:
                break
            node.children, node.more = _level(framework, step, query, aligned)
            level = node.children
    return picker


def standards_branch(request, target) -> HttpResponse | None:
    """One level of a framework's tree for htmx (the children of ?open=, or the top level); None
    when this is no such request (the page then renders whole)."""
    if not request.htmx or "framework" not in request.GET:
        return None
    framework = (
        frameworks_visible_to(request.school).filter(pk=parse_id(request.GET["framework"])).first()
    )
    if framework is None:
        raise Http404("No such framework for this school")
    found, open_item = _opened(request, framework)
    if not found:
        raise Http404("No such standard in this framework")
    query = request.GET.get("q", "").strip()[:100]
    aligned = (
        {str(a.item.identifier) for a in target_alignments(request.school, target)}
        if target
        else set()
    )
    nodes, more = _level(framework, open_item, query, aligned)
    return render(
        request,
        "gradebook/_standards_branch.html",
        {"nodes": nodes, "more": more, "framework": framework},
    )


def _target_form(request, department, target=None):
    competencies = Competency.objects.filter(school=request.school, department=department).order_by(
        "position", "code"
    )
    levels = achievement_levels(request.school)
    initial = None
    if target is not None:
        initial = {
            "competency": target.competency,
            "code": target.code,
            "statement": target.statement,
            "standard_code": target.standard_code,
            "dok_level": target.dok_level,
        }
        for d in LevelDescriptor.objects.filter(school=request.school, target=target):
            initial[f"d{int(d.level_value)}"] = d.text
    standards, aligned, found = _standards(request, target)
    if standards is not None:
        initial = {**(initial or {}), "case_items": aligned}
    data = request.POST if request.method == "POST" else None
    form = TargetForm(
        data, initial=initial, competencies=competencies, levels=levels, standards=standards
    )
    form.standards_found = found  # the picker says when the search found nothing
    return form


def _save_target(request, department, target=None):
    if request.method == "GET" and (branch := standards_branch(request, target)) is not None:
        return branch
    form = _target_form(request, department, target)
    if request.method == "POST" and form.is_valid():
        data = form.cleaned_data
        try:
            saved = target_save(
                school=request.school,
                department=department,
                target=target,
                competency=data["competency"],
                code=data["code"],
                statement=data["statement"],
                standard_code=data["standard_code"],
                subject=department.name,
                dok_level=data["dok_level"],
                descriptors={level: data[f"d{level}"] for level in (1, 2, 3, 4)},
                case_identifiers=data.get("case_items"),
                saved_by=request.user,
            )
        except ValidationError as exc:
            add_service_errors(form, exc)
        else:
            messages.success(request, f"Saved {saved.code}.")
            return redirect(_back(request, department))
    return render(
        request,
        "gradebook/target_form.html",
        {
            "department": department,
            "form": form,
            "target": target,
            "query": request.GET.get("q", "").strip()[:100],
            "picker": _picker(request, form),
        },
        status=422 if request.method == "POST" else 200,
    )


def target_create(request, school_slug: str, department_id: int):
    return _save_target(request, _department(request, department_id, edit=True))


def target_edit(request, school_slug: str, department_id: int, target_id: int):
    department = _department(request, department_id, edit=True)
    target = LearningTarget.objects.filter(
        school=request.school, department=department, id=target_id
    ).first()
    if target is None:
        raise Http404("No such learning target in this department")
    return _save_target(request, department, target)


@require_POST
def target_move_view(request, school_slug: str, department_id: int, target_id: int):
    department = _department(request, department_id, edit=True)
    target = LearningTarget.objects.filter(
        school=request.school, department=department, id=target_id
    ).first()
    if target is None:
        raise Http404("No such learning target in this department")
    target_move(
        school=request.school,
        target=target,
        direction="up" if request.POST.get("direction") == "up" else "down",
        moved_by=request.user,
    )
    return redirect(_back(request, department) + f"#t-{target.id}")


def _save_competency(request, department, competency=None):
    initial = None
    if competency is not None:
        initial = {
            "code": competency.code,
            "name": competency.name,
            "kind": competency.kind,
            "description": competency.description,
        }
    form = CompetencyForm(request.POST if request.method == "POST" else None, initial=initial)
    if request.method == "POST" and form.is_valid():
        try:
            competency_save(
                school=request.school,
                department=department,
                competency=competency,
                saved_by=request.user,
                **form.cleaned_data,
            )
        except ValidationError as exc:
            add_service_errors(form, exc)
        else:
            messages.success(request, "Competency saved.")
            return redirect(_back(request, department))
    return render(
        request,
        "gradebook/competency_form.html",
        {"department": department, "form": form, "competency": competency},
        status=422 if request.method == "POST" else 200,
    )


def competency_create(request, school_slug: str, department_id: int):
    return _save_competency(request, _department(request, department_id, edit=True))


def competency_edit(request, school_slug: str, department_id: int, competency_id: int):
    department = _department(request, department_id, edit=True)
    competency = Competency.objects.filter(
        school=request.school, department=department, id=competency_id
    ).first()
    if competency is None:
        raise Http404("No such competency in this department")
    return _save_competency(request, department, competency)


def target_import(request, school_slug: str, department_id: int):
    department = _department(request, department_id, edit=True)
    form = TargetImportForm(request.POST or None, request.FILES or None)
    report = None
    if request.method == "POST" and form.is_valid():
        report = targets_import_csv(
            school=request.school,
            department=department,
            data=form.cleaned_data["file"].read(),
            dry_run=form.cleaned_data["dry_run"],
            imported_by=request.user,
        )
        if report.ok and not form.cleaned_data["dry_run"]:
            messages.success(
                request,
                f"Imported: {report.created} new target{'s' if report.created != 1 else ''}, "
                f"{report.updated} updated, {report.competencies_created} new competenc"
                f"{'ies' if report.competencies_created != 1 else 'y'}.",
            )
            return redirect(_back(request, department))
    invalid = request.method == "POST" and (
        not form.is_valid() or (report is not None and not report.ok)
    )
    status = 422 if invalid else 200
    return render(
        request,
        "gradebook/target_import.html",
        {"department": department, "form": form, "report": report},
        status=status,
    )
