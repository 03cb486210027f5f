"""The sign-in pages of district single sign-on, and the district admin's page that sets it up.

- /sso/: "sign in with your district": by the school's address (?school=<slug>, which the login
  page passes on when the person was going to a school's page) or by the person's email domain;
  it shows a button per provider of that district. The button POSTs to allauth's login view
  (mastery.sso.provider), which sends the browser to the provider: the page's Content Security
  Policy lets its forms go there (form-action: ourselves and those providers' origins).
- /d/<district>/sign-in/: the district's admins add and change providers (the secret shown never
  again), and turn password sign-in off or on for staff and students.
"""

from __future__ import annotations

import re
from urllib.parse import urlsplit

from django import forms
from django.conf import settings
from django.contrib import messages
from django.contrib.auth import views as auth_views
from django.contrib.auth.decorators import login_required
from django.http import Http404, HttpRequest, HttpResponse
from django.shortcuts import redirect, render
from django.urls import reverse
from django.utils.http import url_has_allowed_host_and_scheme
from django.utils.translation import gettext_lazy as _
from django.views.decorators.http import require_http_methods

from mastery.models import District, DistrictIdentityProvider, School
from mastery.sso import services
from mastery.tenancy import district_schools

Kind = DistrictIdentityProvider.Kind


SCHOOL_PATH = re.compile(r"^/s/([\w-]+)/")


class LoginView(auth_views.LoginView):
    """Django's login page, which also offers the district's sign-in: for the school the person
    was going to when there is one (its address names it), else by email."""

    def get_context_data(self, **kwargs):
        context = super().get_context_data(**kwargs)
        match = SCHOOL_PATH.match(context.get("next") or "")
        context["sso_school"] = match[1] if match else ""
        return context


class EmailForm(forms.Form):
    email = forms.EmailField(label=_("Your school email"), max_length=254)


def _with_providers_csp(response: HttpResponse, providers) -> HttpResponse:
    """Let this page's forms lead to the providers' sign-in pages (allauth's login view answers
    the POST with a redirect there, which form-action governs)."""
    origins = sorted(
        {
            f"{urlsplit(p.sign_in_address).scheme}://{urlsplit(p.sign_in_address).netloc}"
            for p in providers
        }
    )
    config = dict(settings.SECURE_CSP)
    config["form-action"] = [*config.get("form-action", []), *origins]
    response._csp_config = config  # type: ignore[attr-defined]  # Django's csp_override does so
    return response


def _safe_next(request: HttpRequest) -> str:
    candidate = request.POST.get("next") or request.GET.get("next") or ""
    if candidate and url_has_allowed_host_and_scheme(
        candidate, allowed_hosts={request.get_host()}, require_https=request.is_secure()
    ):
        return candidate
    return ""


@require_http_methods(["GET", "POST"])
def start(request: HttpRequest) -> HttpResponse:
    next_url = _safe_next(request)
    providers: list[DistrictIdentityProvider] = []
    form = EmailForm(request.POST or None)
    district = None
    slug = request.GET.get("school", "")
    if slug:
        school = School.objects.filter(slug=slug).select_related("district").first()
        if school is not None and school.district_id:
            district = school.district
            providers = services.providers_for(district_id=school.district_id)
    asked = False
    if request.method == "POST" and form.is_valid():
        asked = True
        providers = services.providers_for_email(form.cleaned_data["email"])
    response = render(
        request,
        "sso/start.html",
        {
            "form": form,
            "providers": providers,
            "district": district,
            "asked": asked,
            "next": next_url,
        },
    )
    return _with_providers_csp(response, providers)


# --- The district admin's page ----------------------------------------------------------------


class ProviderForm(forms.Form):
    kind = forms.ChoiceField(label=_("Kind"), choices=Kind.choices)
    name = forms.CharField(label=_("Name on the button"), max_length=80)
    issuer = forms.CharField(
        label=_("Issuer or entity ID"),
        required=False,
        max_length=300,
        help_text=_(
            "Another OpenID Connect provider: its issuer address (https). SAML: the identity "
            "provider's entity ID. Google and Entra: left empty, it is known."
        ),
    )
    hosted_domain = forms.CharField(
        label=_("Google hosted domain (hd)"), required=False, max_length=200
    )
    tenant_id = forms.CharField(label=_("Entra tenant id (tid)"), required=False, max_length=64)
    client_id = forms.CharField(
        label=_("Client id"), required=False, max_length=300, help_text=_("Not for SAML.")
    )
    secret = forms.CharField(
        label=_("Client secret"),
        required=False,
        max_length=1000,
        widget=forms.PasswordInput(render_value=False, attrs={"autocomplete": "off"}),
        help_text=_("Stored encrypted and never shown again. Leave empty to keep the saved one."),
    )
    sso_url = forms.CharField(
        label=_("SAML sign-in URL"),
        required=False,
        max_length=500,
        help_text=_("SAML only: the provider's single sign-on address (HTTP-Redirect binding)."),
    )
    certificate = forms.CharField(
        label=_("SAML signing certificate"),
        required=False,
        max_length=20000,
        widget=forms.Textarea(attrs={"rows": 4, "spellcheck": "false"}),
        help_text=_("SAML only: the provider's public certificate, PEM (-----BEGIN CERTIFICATE…)."),
    )
    email_domains = forms.CharField(
        label=_("Email domains it vouches for"),
        max_length=1000,
        help_text=_("Separated by spaces, e.g. lincoln.k12.example students.lincoln.k12.example"),
    )
    enabled = forms.BooleanField(label=_("In use"), required=False, initial=True)


class PasswordForm(forms.Form):
    password_signin = forms.BooleanField(
        label=_("Staff and students may also sign in with a password"), required=False
    )


def _district(request: HttpRequest, slug: str) -> District:
    district = District.objects.filter(slug=slug, memberships__user=request.user).first()
    if district is None:
        raise Http404("No such district, or not one you administer.")
    return district


def _initial(p: DistrictIdentityProvider) -> dict:
    return {
        "kind": p.kind,
        "name": p.name,
        "issuer": p.issuer,
        "hosted_domain": p.hosted_domain,
        "tenant_id": p.tenant_id,
        "client_id": p.client_id,
        "email_domains": " ".join(p.email_domains),
        "sso_url": p.sso_url,
        "certificate": p.certificate,
        "enabled": p.enabled,
    }


def _row(request: HttpRequest, p: DistrictIdentityProvider) -> dict:
    """A provider as its district's page lists it, with what to register at the provider."""
    row = {"p": p, "linked": services.is_linked(p)}
    if p.kind == Kind.SAML:
        row["acs"] = request.build_absolute_uri(reverse("saml_acs", args=[p.provider_id]))
        row["metadata"] = request.build_absolute_uri(reverse("saml_metadata", args=[p.provider_id]))
        row["certificate"] = services.certificate_summary(p.certificate)
    else:
        row["callback"] = request.build_absolute_uri(
            reverse("openid_connect_callback", args=[p.provider_id])
        )
    return row


@login_required
@require_http_methods(["GET", "POST"])
def district_page(request: HttpRequest, district_slug: str) -> HttpResponse:
    district = _district(request, district_slug)
    rows = list(DistrictIdentityProvider.objects.filter(district=district).order_by("name", "id"))
    editing = None
    edit_id = request.GET.get("edit") or request.POST.get("provider")
    if edit_id:
        editing = next((p for p in rows if str(p.pk) == edit_id), None)
        if editing is None:
            raise Http404("No such provider.")
    form = ProviderForm(initial=_initial(editing) if editing else {"enabled": True})
    password_form = PasswordForm(initial={"password_signin": district.password_signin})
    status = 200
    if request.method == "POST":
        action = request.POST.get("action")
        try:
            with district_schools(district):  # the change goes in each of its schools' trail
                if action == "provider":
                    form = ProviderForm(request.POST)
                    if form.is_valid():
                        saved = services.provider_save(
                            user=request.user,
                            district=district,
                            provider=editing,
                            **form.cleaned_data,
                        )
                        messages.success(request, f"“{saved.name}” is saved.")
                        return redirect("sso_district", district_slug=district.slug)
                    status = 422
                elif action == "password":
                    password_form = PasswordForm(request.POST)
                    if password_form.is_valid():
                        services.password_signin_set(
                            user=request.user,
                            district=district,
                            allowed=password_form.cleaned_data["password_signin"],
                        )
                        messages.success(request, "Saved.")
                        return redirect("sso_district", district_slug=district.slug)
                    status = 422
                else:
                    messages.error(request, "Choose what to do.")
                    status = 400
        except services.SsoError as exc:
            status = 422
            target = password_form if action == "password" else form
            target.add_error(exc.field if exc.field in target.fields else None, str(exc))
    return render(
        request,
        "sso/district.html",
        {
            "district": district,
            "rows": [_row(request, p) for p in rows],
            "form": form,
            "editing": editing,
            "password_form": password_form,
        },
        status=status,
    )
