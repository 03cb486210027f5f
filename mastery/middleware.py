"""The one place where a request enters a school (docs/design.md section 4)."""

from __future__ import annotations

from contextlib import ExitStack

from django.conf import settings
from django.contrib.auth.views import redirect_to_login
from django.http import Http404
from django.urls import Resolver404, resolve
from django.utils import translation
from django.utils.cache import add_never_cache_headers
from django_scopes import scope

from mastery import rls
from mastery.rest import SchoolViewSet
from mastery.tenancy import all_schools, school_access


def _checks_school_itself(view) -> bool:

    return isinstance(getattr(view, "cls", None), type) and issubclass(view.cls, SchoolViewSet)


class SchoolScopeMiddleware:
    """Resolve /s/<school-slug>/, check the membership, and run the request in the school's scope.

    - Not logged in: redirect to the login page (the same for every slug, so nothing leaks).
    - No membership in that school (or no such school): 404, never 403.
    - Otherwise `request.school` and `request.access` are set and every tenant query runs inside a
      django-scopes scope for that school; a query on a tenant model outside it raises ScopeError.
    - The Django admin runs with scopes disabled: its ModelAdmins filter by the user's schools.
    - REST API views (/api/v1/schools/<slug>/…) do the same checks themselves, after DRF has
      authenticated the token (mastery.rest.SchoolViewSet).
    - The second wall, row-level security (mastery.rls), follows: the school's rows only inside
      a school (until a streamed response is closed: its rows are read after the view returns),
      every school's in the admin, none anywhere else unless the code opens it
      (mastery.tenancy.all_schools).
    """

    def __init__(self, get_response):
        self.get_response = get_response
        self.admin_prefix = "/" + settings.ADMIN_URL.strip("/") + "/"

    def __call__(self, request):
        request.school = None
        request.access = None
        walls = ExitStack()
        try:
            response = self._respond(request, walls)
        except BaseException:
            walls.close()
            raise
        return rls.close_with(response, walls)

    def _respond(self, request, walls: ExitStack):
        if request.path_info.startswith(self.admin_prefix):
            walls.enter_context(all_schools())  # its ModelAdmins filter by the user's schools
            return self.get_response(request)
        try:
            match = resolve(request.path_info)
        except Resolver404:
            match = None
        slug = match.kwargs.get("school_slug") if match is not None else None
        if slug is None or _checks_school_itself(match.func):
            # No school in the URL, or a REST API view (DRF authenticates tokens itself, then
            # mastery.rest.SchoolViewSet makes the same school_access check and enters the scope).
            # Every request starts behind a closed wall, whatever the connection saw before.
            walls.enter_context(rls.Wall())
            return self.get_response(request)
        if not request.user.is_authenticated:
            return redirect_to_login(request.get_full_path())
        # One wall for the request: open to every school for the membership lookup (the school
        # is not known yet), then to this school only.
        wall = walls.enter_context(rls.Wall(all_schools=True))
        access = school_access(request.user, slug)
        if access is None:
            raise Http404("No such school")
        wall.let_through(school_id=access.school.id)
        access.school._request_memo = {}  # see mastery.selectors._per_request
        request.school = access.school
        request.access = access
        with scope(school=access.school):
            return self.get_response(request)


class UserLanguageMiddleware:
    """A logged-in user's saved language wins over the browser's (LocaleMiddleware decides before
    we know who the user is). Placed after AuthenticationMiddleware."""

    def __init__(self, get_response):
        self.get_response = get_response
        self.languages = {code for code, _ in settings.LANGUAGES}

    def __call__(self, request):
        user = getattr(request, "user", None)
        if user is not None and user.is_authenticated and user.preferred_language in self.languages:
            translation.activate(user.preferred_language)
            request.LANGUAGE_CODE = user.preferred_language
        return self.get_response(request)


class NoStoreMiddleware:
    """A signed-in person's pages are never kept by the browser: `Cache-Control: no-store`.

    The grid, the scoring page, rosters, attendance, the policy page change in place (htmx saves
    without a reload). A response without Cache-Control may be reused from the browser's cache
    when the person presses Back, showing the page as it first came: a score saved since then
    shows its old value, a saved comment is blank. So every response to a signed-in person says
    no-store, unless its view decided otherwise (Django's `cache_control` decorator or
    `patch_cache_control`): a response that already has Cache-Control is left as it is. Pages
    restored from the back/forward cache anyway reload themselves (static/js/fresh.js), and htmx
    keeps no snapshots of its own for Back (historyCacheSize 0 in templates/base.html).

    This is the browser's copy only: the family portal keeps its server-side page cache
    (mastery.pagecache), which is invalidated by the writes themselves.
    """

    def __init__(self, get_response):
        self.get_response = get_response

    def __call__(self, request):
        response = self.get_response(request)
        user = getattr(request, "user", None)
        if user is not None and user.is_authenticated and not response.has_header("Cache-Control"):
            add_never_cache_headers(response)
        return response
