from django.conf import settings
from django.urls import include, path
from oauth2_provider import views as oauth2_views

from alerts import views as alerts_views
from config import views as site_views
from gradebook.views import audit as audit_views
from grading import views as grading_views
from mastery import account_views
from mastery import views as core_views
from mastery.admin.site import admin_site
from mastery.auth import LoginForm
from mastery.sso import provider as sso_provider
from mastery.sso import views as sso_views
from mastery.standards import views as standards_views
from reports import views as reports_views
from reports.dashboards import views as dashboards

urlpatterns = [
    path("", site_views.home, name="home"),
    path("healthz", site_views.healthz, name="healthz"),
    path("language/", core_views.language_switch, name="language_switch"),
    path(
        "accounts/login/",
        sso_views.LoginView.as_view(
            authentication_form=LoginForm, redirect_authenticated_user=True
        ),
        name="login",
    ),
    # The owner's own credential pages (mastery.accounts: the identity rule), before Django's.
    path("accounts/password_reset/", account_views.SigninLinkView.as_view(), name="password_reset"),
    path(
        "accounts/reset/<uidb64>/<token>/",
        account_views.ChoosePasswordView.as_view(),
        name="password_reset_confirm",
    ),
    path(
        "accounts/password_change/",
        account_views.OwnerPasswordChangeView.as_view(),
        name="password_change",
    ),
    path(
        "accounts/email/<str:token>/",
        account_views.email_change_confirm,
        name="email_change_confirm",
    ),
    path("accounts/", include("django.contrib.auth.urls")),
    # District single sign-on (mastery.sso): allauth's OpenID Connect views only, under the
    # names its provider reverses, and its SAML views (sign-in, assertion consumer, metadata); none
    # of allauth's password or signup pages.
    path("sso/", sso_views.start, name="sso_start"),
    path("sso/oidc/<str:provider_id>/login/", sso_provider.login, name="openid_connect_login"),
    path(
        "sso/oidc/<str:provider_id>/login/callback/",
        sso_provider.callback,
        name="openid_connect_callback",
    ),
    path("sso/saml/<str:organization_slug>/login/", sso_provider.saml_login, name="saml_login"),
    path("sso/saml/<str:organization_slug>/acs/", sso_provider.saml_acs, name="saml_acs"),
    path(
        "sso/saml/<str:organization_slug>/acs/finish/",
        sso_provider.saml_finish_acs,
        name="saml_finish_acs",
    ),
    path(
        "sso/saml/<str:organization_slug>/metadata/",
        sso_provider.saml_metadata,
        name="saml_metadata",
    ),
    path(
        "sso/saml/<str:organization_slug>/sls/",
        sso_provider.saml_logout_not_offered,
        name="saml_sls",
    ),
    path("d/<slug:district_slug>/sign-in/", sso_views.district_page, name="sso_district"),
    path(settings.ADMIN_URL, admin_site.urls),
    path("api/", include("config.api_urls")),
    # Grades to the SIS (sis): the OneRoster 1.2 Gradebook REST binding and the OAuth 2 token
    # endpoint its clients take tokens at (client credentials; no authorization pages).
    path("ims/oneroster/gradebook/v1p2/", include("sis.oneroster_urls")),
    path("oauth/token/", oauth2_views.TokenView.as_view(), name="oauth_token"),
    path("oauth/revoke_token/", oauth2_views.RevokeTokenView.as_view(), name="oauth_revoke"),
    # Everything of one school lives under /s/<school-slug>/ and runs in that school's scope.
    path("s/<slug:school_slug>/", site_views.school_home, name="school_home"),
    path("s/<slug:school_slug>/policy/", grading_views.policy_page, name="policy"),
    path("s/<slug:school_slug>/policy/reassessment/", grading_views.rules_page, name="rules"),
    path(
        "s/<slug:school_slug>/policy/courses/<int:course_id>/reassessment/",
        grading_views.rules_page,
        name="rules_course",
    ),
    path(
        "s/<slug:school_slug>/policy/courses/<int:course_id>/",
        grading_views.policy_page,
        name="policy_course",
    ),
    path(
        "s/<slug:school_slug>/policy/runs/<int:run_id>/",
        grading_views.policy_run,
        name="policy_run",
    ),
    path("s/<slug:school_slug>/api-tokens/", core_views.api_tokens, name="api_tokens"),
    path("s/<slug:school_slug>/audit/", audit_views.audit_log, name="audit_log"),
    path("s/<slug:school_slug>/standards/", standards_views.standards_page, name="standards"),
    path(
        "s/<slug:school_slug>/standards/<int:framework_id>/",
        standards_views.standards_framework,
        name="standards_framework",
    ),
    path("s/<slug:school_slug>/", include("gradebook.urls")),
    path("s/<slug:school_slug>/intervention/", include("intervention.urls")),
    path("s/<slug:school_slug>/years/", include("years.urls")),
    path("s/<slug:school_slug>/marks/", include("marks.urls")),
    path("s/<slug:school_slug>/sis/", include("sis.urls")),
    path("s/<slug:school_slug>/", include("reports.urls")),
    # A district's schools side by side (its district admins only).
    path("d/<slug:district_slug>/dashboard/", dashboards.district_view, name="district_dashboard"),
    path(
        "d/<slug:district_slug>/signin-links/",
        account_views.district_signin_link,
        name="district_signin_link",
    ),
    path("s/<slug:school_slug>/alerts/", alerts_views.sent, name="alerts_sent"),
    path("alerts/", include("alerts.urls")),
    path("family/", reports_views.family_home, name="family_home"),
    path("invite/", reports_views.invitation_code, name="invitation_code"),
    path("invite/continue/", reports_views.invitation_accept_view, name="invitation_accept_code"),
    path("invite/<str:token>/", reports_views.invitation_accept_view, name="invitation_accept"),
]
