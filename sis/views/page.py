"""District IT's page of grades to the SIS: /s/<school>/sis/.

What it shows: each grading period with posted marks and when its grades last left (files, push,
dry run, by whom); every delivery with what went and what the SIS refused, in the SIS's words; the
pull clients (OAuth 2 client credentials for the Gradebook REST binding) and the push connection.
What it does: download a period's OneRoster 1.2 CSV bundle, show what a push would send (dry run),
push, make or revoke a pull client (its secret shown once), set the push connection.

Who: school admins and district admins; a client for the whole district only by a district
admin. Everyone else 403, another school's objects 404. Staff pages: English.
"""

from __future__ import annotations

from django import forms
from django.contrib import messages
from django.db.models import Count
from django.http import Http404, HttpResponse
from django.shortcuts import redirect, render
from django.urls import reverse
from django.views.decorators.http import require_http_methods

from gradebook.models import GradingPeriod
from marks.models import PostedMark
from mastery import audit
from mastery.decorators import roles_required
from mastery.fields import parse_id
from mastery.models import Role
from mastery.tenancy import DISTRICT_ADMIN, all_schools
from sis import services
from sis.csv_binding import BULK, DELTA
from sis.models import SisClient, SisConnection, SisDelivery, SisDeliveryItem
from sis.rest import BASE_PATH

DELIVERIES_SHOWN = 50
REFUSALS_SHOWN = 200


class ClientForm(forms.Form):
    name = forms.CharField(
        label="Name", max_length=80, help_text="Which SIS will use it, e.g. “Campus”."
    )
    district_wide = forms.BooleanField(
        label="For every school of the district",
        required=False,
        help_text="Its tokens then read the grades of all the district's schools.",
    )

    def __init__(self, *args, district_wide_allowed: bool = False, **kwargs):
        super().__init__(*args, **kwargs)
        # Offered only to a district admin of the school's district: anyone else would only be
        # refused (the view still refuses the box ticked in a hand-made request).
        if not district_wide_allowed:
            del self.fields["district_wide"]


class ConnectionForm(forms.Form):
    name = forms.CharField(label="Name", max_length=80, initial="SIS")
    base_url = forms.URLField(
        label="OneRoster Gradebook address",
        max_length=300,
        assume_scheme="https",
        help_text="The SIS's https://…/ims/oneroster/gradebook/v1p2 address.",
    )
    token_url = forms.URLField(label="Token address", max_length=300, assume_scheme="https")
    client_id = forms.CharField(label="Client id", max_length=200)
    secret = forms.CharField(
        label="Client secret",
        required=False,
        max_length=500,
        widget=forms.PasswordInput(render_value=False, attrs={"autocomplete": "off"}),
        help_text="Stored encrypted and never shown again. Leave empty to keep the saved one.",
    )
    scope = forms.CharField(
        label="Scope",
        required=False,
        max_length=300,
        help_text="Empty: the OneRoster gradebook.createput scope.",
    )


def _period(request, raw) -> GradingPeriod:
    period_id = parse_id(raw)
    period = (
        GradingPeriod.objects.filter(school=request.school, pk=period_id).first()
        if period_id
        else None
    )
    if period is None:
        raise Http404("No such grading period.")
    return period


def _clients(request):
    school = request.school
    with all_schools():  # the district's clients are global rows: this school's and its district's
        found = list(
            SisClient.objects.filter(for_school=school).select_related("application", "created_by")
        )
        if school.district_id:
            found += list(
                SisClient.objects.filter(district_id=school.district_id).select_related(
                    "application", "created_by"
                )
            )
    return sorted(found, key=lambda c: c.created_at, reverse=True)


@roles_required(Role.SCHOOL_ADMIN, DISTRICT_ADMIN)
@audit.acting_user
@require_http_methods(["GET", "POST"])
def sis_page(request, school_slug: str):
    school = request.school
    is_district_admin = request.access.has(DISTRICT_ADMIN) and school.district_id is not None
    connection = SisConnection.objects.filter(school=school).first()
    client_form = ClientForm(prefix="client", district_wide_allowed=is_district_admin)
    connection_form = ConnectionForm(
        prefix="connection",
        initial=(
            {
                "name": connection.name,
                "base_url": connection.base_url,
                "token_url": connection.token_url,
                "client_id": connection.client_id,
                "scope": connection.scope,
            }
            if connection
            else None
        ),
    )
    new_secret = None
    new_client = None
    plan = None
    status = 200
    if request.method == "POST":
        action = request.POST.get("action")
        try:
            if action == "client":
                client_form = ClientForm(
                    request.POST, prefix="client", district_wide_allowed=is_district_admin
                )
                wide = forms.BooleanField(required=False).to_python(
                    request.POST.get(client_form.add_prefix("district_wide"))
                )
                if client_form.is_valid():
                    if wide and not is_district_admin:
                        client_form.add_error(
                            None,
                            "Only a district admin can make a client for the whole district.",
                        )
                    else:
                        new_client, new_secret = services.client_create(
                            user=request.user,
                            school=school,
                            name=client_form.cleaned_data["name"],
                            district=school.district if wide else None,
                        )
                        client_form = ClientForm(
                            prefix="client", district_wide_allowed=is_district_admin
                        )
                if new_client is None:
                    status = 422
            elif action == "revoke":
                client_id = parse_id(request.POST.get("client"))
                client = next((c for c in _clients(request) if c.pk == client_id), None)
                if client is None:
                    raise Http404("No such client.")
                if client.district_id is not None and not is_district_admin:
                    messages.error(request, "Only a district admin can revoke a district client.")
                    return redirect(reverse("sis:page", args=[school.slug]) + "#clients")
                services.client_revoke(user=request.user, school=school, client=client)
                messages.success(request, f"“{client.name}” is revoked: its tokens no longer work.")
                return redirect(reverse("sis:page", args=[school.slug]) + "#clients")
            elif action == "connection":
                connection_form = ConnectionForm(request.POST, prefix="connection")
                if connection_form.is_valid():
                    data = connection_form.cleaned_data
                    services.connection_save(user=request.user, school=school, **data)
                    messages.success(request, "The SIS connection is saved.")
                    return redirect(reverse("sis:page", args=[school.slug]) + "#push")
                status = 422
            elif action == "dry_run":
                period = _period(request, request.POST.get("period"))
                _, plan = services.dry_run(user=request.user, school=school, period=period)
            elif action == "push":
                period = _period(request, request.POST.get("period"))
                delivery, made = services.push_start(
                    user=request.user, school=school, period=period
                )
                if made:
                    messages.success(request, f"The grades of {period.name} are on their way.")
                else:
                    messages.info(request, f"A push of {period.name} is already under way.")
                return redirect(reverse("sis:delivery", args=[school.slug, delivery.pk]))
            else:
                status = 400
                messages.error(request, "Choose what to do.")
        except services.SisError as exc:
            status = 422
            if action == "connection":
                connection_form.add_error(None, str(exc))
            else:
                messages.error(request, str(exc))

    periods = list(
        GradingPeriod.objects.filter(school=school).select_related("term").order_by("starts_on")
    )
    posted = dict(
        PostedMark.objects.filter(school=school)
        .current()
        .exclude(value="")
        .values("period_id")
        .annotate(n=Count("id"))
        .values_list("period_id", "n")
        .order_by()
    )
    deliveries = list(
        SisDelivery.objects.filter(school=school)
        .select_related("period", "requested_by")
        .order_by("-requested_at", "-id")[:DELIVERIES_SHOWN]
    )
    last: dict[tuple[int, str], SisDelivery] = {}
    for delivery in deliveries:
        last.setdefault((delivery.period_id, delivery.kind), delivery)
    rows = [
        {
            "period": p,
            "posted": posted.get(p.id, 0),
            "files": last.get((p.id, SisDelivery.Kind.FILES)),
            "push": last.get((p.id, SisDelivery.Kind.PUSH)),
        }
        for p in periods
    ]
    return render(
        request,
        "sis/page.html",
        {
            "rows": rows,
            "deliveries": deliveries,
            "clients": _clients(request),
            "client_form": client_form,
            "connection": connection,
            "connection_form": connection_form,
            "new_client": new_client,
            "new_secret": new_secret,
            "plan": plan,
            "is_district_admin": is_district_admin,
            "base_url": request.build_absolute_uri(BASE_PATH),
            "token_url": request.build_absolute_uri(reverse("oauth_token")),
            "modes": [(DELTA, "Delta (status and dates)"), (BULK, "Bulk")],
        },
        status=status,
    )


@roles_required(Role.SCHOOL_ADMIN, DISTRICT_ADMIN)
@audit.acting_user
@require_http_methods(["GET"])
def bundle_download(request, school_slug: str, period_id: int):
    """The period's OneRoster 1.2 CSV bundle as a zip (GET: a link district IT can bookmark)."""
    period = _period(request, period_id)
    mode = request.GET.get("mode", DELTA)
    if mode not in (BULK, DELTA):
        return HttpResponse("mode is bulk or delta.", status=400, content_type="text/plain")
    try:
        _, data = services.files_export(
            user=request.user, school=request.school, period=period, mode=mode
        )
    except services.SisError as exc:
        messages.error(request, str(exc))
        return redirect("sis:page", school_slug=request.school.slug)
    name = f"oneroster-gradebook-{request.school.slug}-{period.pk}-{mode}.zip"
    response = HttpResponse(data, content_type="application/zip")
    response["Content-Disposition"] = f'attachment; filename="{name}"'
    return response


@roles_required(Role.SCHOOL_ADMIN, DISTRICT_ADMIN)
@require_http_methods(["GET"])
def delivery_page(request, school_slug: str, delivery_id: int):
    """One delivery: its counts, status, and each object the SIS refused, with its words."""
    delivery = (
        SisDelivery.objects.filter(school=request.school, pk=delivery_id)
        .select_related("period", "requested_by")
        .first()
    )
    if delivery is None:
        raise Http404("No such delivery.")
    refusals = list(
        SisDeliveryItem.objects.filter(
            school=request.school, delivery=delivery, outcome=SisDeliveryItem.Outcome.REFUSED
        ).order_by("id")[:REFUSALS_SHOWN]
    )
    return render(
        request,
        "sis/delivery.html",
        {
            "delivery": delivery,
            "refusals": refusals,
            "in_flight": delivery.status in services.IN_FLIGHT,
        },
    )
