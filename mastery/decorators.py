"""View guards for pages inside a school (the middleware has already checked membership)."""

from __future__ import annotations

from functools import wraps

from django.core.exceptions import PermissionDenied


def roles_required(*roles: str):
    """Allow the view only to members holding one of `roles` in the current school (else 403)."""

    def decorator(view):
        @wraps(view)
        def wrapped(request, *args, **kwargs):
            access = getattr(request, "access", None)
            if access is None or not access.has(*roles):
                raise PermissionDenied("Your role in this school does not include this page.")
            return view(request, *args, **kwargs)

        wrapped.allowed_roles = frozenset(roles)
        return wrapped

    return decorator
