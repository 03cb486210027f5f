"""The standards pages: import a CASE package (dry run, then import) and browse the frameworks.

For a school's admins and its district's admins. A framework is reached only through
`frameworks_visible_to(request.school)`, so another district's framework answers 404.
"""

from __future__ import annotations

import secrets
from dataclasses import dataclass

from django.conf import settings
from django.contrib import messages
from django.core.cache import cache
from django.shortcuts import get_object_or_404, redirect, render
from django.views.decorators.cache import never_cache

from mastery import audit
from mastery.decorators import roles_required
from mastery.models import FrameworkItem, Role
from mastery.standards.case import PackageError, package_parse
from mastery.standards.fetch import FetchError, url_fetch
from mastery.standards.importer import framework_import
from mastery.standards.selectors import (
    framework_other_associations,
    framework_search,
    framework_tree,
    frameworks_visible_to,
)
from mastery.tenancy import DISTRICT_ADMIN

ADMIN_ROLES = (Role.SCHOOL_ADMIN, DISTRICT_ADMIN)
PENDING_SECONDS = 30 * 60


def _pending_key(request, token: str) -> str:
    return f"case-import:{request.school.pk}:{request.user.pk}:{token}"


def _submitted(request) -> tuple[bytes, str]:
    """The package the form sent (a file or an https URL), within the size limit."""
    upload = request.FILES.get("package")
    url = request.POST.get("url", "").strip()
    if upload and url:
        raise FetchError("Give a file or an address, not both.")
    if upload:
        limit = settings.CASE_IMPORT_MAX_BYTES
        if upload.size > limit:
            raise FetchError(f"The package is larger than {limit // 1_000_000} MB.")
        return upload.read(), upload.name
    if url:
        return url_fetch(url), url
    raise FetchError("Choose a CASE package file or give its https address.")


@never_cache
@roles_required(*ADMIN_ROLES)
@audit.acting_user
def standards_page(request, school_slug: str):
    """Upload or fetch a package: a dry run shows the counts; confirming imports it."""
    errors: list[str] = []
    preview = token = None
    status = 200
    if request.method == "POST":
        token = request.POST.get("token", "")
        confirming = bool(token)
        try:
            if confirming:
                pending = cache.get(_pending_key(request, token))
                if pending is None:
                    raise FetchError("The checked package has expired; send it again.")
                raw, source = pending
            else:
                raw, source = _submitted(request)
            package = package_parse(raw)
            result = framework_import(
                school=request.school,
                package=package,
                source=source,
                imported_by=request.user,
                dry_run=not confirming,
            )
        except FetchError as exc:
            errors, status = [str(exc)], 422
        except PackageError as exc:
            errors, status = exc.errors, 422
        else:
            if confirming:
                cache.delete(_pending_key(request, token))
                messages.success(request, f"Imported {result.summary()}.")
                return redirect(
                    "standards_framework",
                    school_slug=school_slug,
                    framework_id=result.framework_id,
                )
            preview = result
            token = secrets.token_urlsafe(18)
            cache.set(_pending_key(request, token), (raw, source), PENDING_SECONDS)
    return render(
        request,
        "standards/standards.html",
        {
            "frameworks": frameworks_visible_to(request.school),
            "errors": errors,
            "preview": preview,
            "token": token if preview else "",
            "url": request.POST.get("url", "") if errors else "",
        },
        status=status,
    )


@dataclass
class TreeRow:
    item: FrameworkItem
    has_children: bool
    closes: range


def tree_rows(items: list[FrameworkItem]) -> list[TreeRow]:
    """Items in depth-first order as rows of a nested list: whether each opens a sublist, and
    how many sublists close after it (so the template needs no recursion)."""
    rows = []
    for n, item in enumerate(items):
        following = items[n + 1].depth if n + 1 < len(items) else 1
        has_children = following > item.depth
        closes = 0 if has_children else max(0, item.depth - following)
        rows.append(TreeRow(item=item, has_children=has_children, closes=range(closes)))
    return rows


@never_cache
@roles_required(*ADMIN_ROLES)
def standards_framework(request, school_slug: str, framework_id: int):
    """One framework: its tree of current items, a search, the retired items and the other
    associations."""
    framework = get_object_or_404(frameworks_visible_to(request.school), pk=framework_id)
    query = request.GET.get("q", "").strip()[:200]
    results = list(framework_search(framework, query)) if query else None
    rows: list[TreeRow] = []
    retired: list[FrameworkItem] = []
    if results is None:
        ordered, retired = framework_tree(framework)
        rows = tree_rows(ordered)
    return render(
        request,
        "standards/framework.html",
        {
            "framework": framework,
            "query": query,
            "results": results,
            "rows": rows,
            "retired": retired,
            "associations": framework_other_associations(framework)[:500],
        },
    )
