"""Alert pages: a person's own settings, the one-click unsubscribe, and what the school sent."""

from __future__ import annotations

from anymail.webhooks.amazon_ses import AmazonSESTrackingWebhookView
from anymail.webhooks.mailgun import MailgunTrackingWebhookView
from anymail.webhooks.postmark import PostmarkTrackingWebhookView
from anymail.webhooks.sendgrid import SendGridTrackingWebhookView
from django.conf import settings
from django.contrib import messages
from django.contrib.auth.decorators import login_required
from django.core.paginator import Paginator
from django.http import Http404
from django.shortcuts import redirect, render
from django.utils.translation import gettext as _
from django.views.decorators.csrf import csrf_exempt
from django.views.decorators.http import require_http_methods

from alerts import selectors, services
from alerts.forms import AlertSettingsForm
from alerts.models import AlertDelivery, AlertSettings
from alerts.preferences import choices_of
from alerts.writing import unsubscribe_user_id
from mastery.decorators import roles_required
from mastery.models import Role, User
from mastery.tenancy import DISTRICT_ADMIN


@login_required
@require_http_methods(["GET", "POST"])
def preferences(request):
    """The person's own alert settings (families, students and staff alike)."""
    user = request.user
    kinds = selectors.kinds_for(user)
    choices = choices_of(AlertSettings.objects.filter(user=user).first())
    form = AlertSettingsForm(request.POST or None, kinds=kinds, choices=choices)
    if request.method == "POST" and form.is_valid():
        services.alerts_save(
            user,
            frequencies=form.frequencies(),
            details=form.cleaned_data["details"],
            quiet_from=form.cleaned_data["quiet_from"],
            quiet_until=form.cleaned_data["quiet_until"],
        )
        messages.success(request, _("Your alert settings are saved."))
        return redirect("alerts:preferences")
    return render(
        request,
        "alerts/preferences.html",
        {"form": form, "kinds": kinds, "address": user.email},
        status=400 if request.method == "POST" else 200,
    )


# The link in every mail and its List-Unsubscribe header: the signed token is the authority (no
# sign-in, no CSRF token: a mail provider's one-click POST carries neither, RFC 8058). A GET only
# asks, so that a link scanner opening it stops nothing.
@csrf_exempt
@require_http_methods(["GET", "POST"])
def unsubscribe(request, token: str):
    user_id = unsubscribe_user_id(token)
    user = User.objects.filter(pk=user_id, is_active=True).first() if user_id else None
    if user is None:
        return render(request, "alerts/unsubscribe.html", {"invalid": True}, status=404)
    if request.method == "POST":
        services.alerts_stop(user)
        return render(request, "alerts/unsubscribe.html", {"done": True, "address": user.email})
    return render(request, "alerts/unsubscribe.html", {"address": user.email})


@roles_required(Role.SCHOOL_ADMIN, DISTRICT_ADMIN)
@require_http_methods(["GET"])
def sent(request, school_slug: str):
    """What the school's alerts sent, to whom and when; refused and unconfirmed mails first in
    the counts, so a bounced address is seen."""
    status = request.GET.get("status", "")
    search = " ".join(request.GET.get("q", "").split())[:100]
    page = Paginator(
        selectors.deliveries(request.school, status=status, search=search), 50
    ).get_page(request.GET.get("page"))
    counts = selectors.status_counts(request.school)
    return render(
        request,
        "alerts/sent.html",
        {
            "page": page,
            "status": status if status in AlertDelivery.Status.values else "",
            "q": search,
            "statuses": [
                (value, label, counts.get(value, 0))
                for value, label in AlertDelivery.Status.choices
            ],
        },
    )


def _provider_webhook(view_class):
    """A mail provider's bounce and complaint webhook (django-anymail, alerts.bounces), open
    only when its shared secret is set: without ANYMAIL_WEBHOOK_SECRET, anymail would take
    anyone's word that a mail bounced."""
    view = view_class.as_view()

    @csrf_exempt
    def webhook(request, *args, **kwargs):
        if not settings.ANYMAIL.get("WEBHOOK_SECRET"):
            raise Http404("No mail provider webhook is configured")
        return view(request, *args, **kwargs)

    return webhook


postmark_tracking = _provider_webhook(PostmarkTrackingWebhookView)
amazon_ses_tracking = _provider_webhook(AmazonSESTrackingWebhookView)
mailgun_tracking = _provider_webhook(MailgunTrackingWebhookView)
sendgrid_tracking = _provider_webhook(SendGridTrackingWebhookView)
