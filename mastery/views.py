"""The core's own pages: the interface language and a user's API tokens."""

from __future__ import annotations

from django.conf import settings as django_settings
from django.contrib import messages
from django.core.exceptions import ValidationError
from django.http import Http404
from django.shortcuts import redirect, render
from django.utils import translation
from django.utils.http import url_has_allowed_host_and_scheme
from django.views.decorators.cache import never_cache
from django.views.decorators.http import require_POST

from mastery.decorators import roles_required
from mastery.forms import ApiTokenForm
from mastery.models import ApiToken
from mastery.services import api_token_create, api_token_revoke
from mastery.tenancy import API_ROLES


@require_POST
def language_switch(request):
    """Switch the interface language; remembered on the account (and in a cookie before login)."""
    language = request.POST.get("language", "")
    if language not in dict(django_settings.LANGUAGES):
        language = django_settings.LANGUAGE_CODE
    if request.user.is_authenticated and request.user.preferred_language != language:
        request.user.preferred_language = language
        request.user.save(update_fields=["preferred_language"])
    back = request.POST.get("next") or request.headers.get("referer") or "/"
    if not url_has_allowed_host_and_scheme(
        back, allowed_hosts={request.get_host()}, require_https=request.is_secure()
    ):
        back = "/"
    translation.activate(language)
    response = redirect(back)
    response.set_cookie(
        django_settings.LANGUAGE_COOKIE_NAME,
        language,
        max_age=365 * 24 * 3600,
        samesite="Lax",
        secure=django_settings.SESSION_COOKIE_SECURE,
        httponly=True,
    )
    return response


@never_cache
@roles_required(*API_ROLES)  # the roles the API serves
def api_tokens(request, school_slug: str):
    """The user's own API tokens in this school: make one (shown once), revoke one."""
    new_secret = None
    errors: list[str] = []
    status = 200
    if request.method == "POST":
        if "revoke" in request.POST:
            try:
                token = api_token_revoke(
                    school=request.school,
                    user=request.user,
                    token_id=int(request.POST.get("revoke", "")),
                )
            except (ValueError, ApiToken.DoesNotExist) as exc:
                raise Http404("No such token") from exc
            messages.success(request, f"Revoked “{token.name}”: it no longer opens the API.")
            return redirect("api_tokens", school_slug=school_slug)
        form = ApiTokenForm(request.POST)
        try:
            if not form.is_valid():
                raise ValidationError(form.errors["name"])
            _, secret = api_token_create(
                school=request.school, user=request.user, name=form.cleaned_data["name"]
            )
        except ValidationError as exc:
            errors = exc.messages
            status = 422
        else:
            # Post/redirect/get, so a reload cannot make a second token; the secret waits in the
            # (server-side) session for exactly one page view.
            request.session["new_api_token"] = secret
            return redirect("api_tokens", school_slug=school_slug)
    else:
        new_secret = request.session.pop("new_api_token", None)
    tokens = ApiToken.objects.filter(school=request.school, user=request.user)
    return render(
        request,
        "mastery/api_tokens.html",
        {
            "tokens": tokens,
            "new_secret": new_secret,
            "errors": errors,
            "name": request.POST.get("name", "") if errors else "",
        },
        status=status,
    )
