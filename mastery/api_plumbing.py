"""What REST_FRAMEWORK settings name: token authentication and paging.

Its own module, importing nothing of rest_framework.views: DRF imports these classes while its
views module is still loading, so they cannot live next to the view sets in mastery.rest.
"""

from __future__ import annotations

from datetime import timedelta

from django.utils import timezone
from rest_framework import authentication, exceptions, pagination

from mastery.models import ApiToken
from mastery.tenancy import all_schools


class ApiTokenAuthentication(authentication.BaseAuthentication):
    """`Authorization: Bearer mgb_…` (or `Token mgb_…`): a personal token made in the browser."""

    keywords = ("bearer", "token")
    # Writing last_used_at on every call would turn reads into writes; once a minute is plenty.
    touch_every = timedelta(minutes=1)

    def authenticate(self, request):
        header = authentication.get_authorization_header(request).split()
        if not header or header[0].lower().decode(errors="replace") not in self.keywords:
            return None
        if len(header) != 2:
            raise exceptions.AuthenticationFailed(
                "Send the token as `Authorization: Bearer <token>`."
            )
        try:
            raw = header[1].decode()
        except UnicodeDecodeError as exc:
            raise exceptions.AuthenticationFailed("The token holds invalid characters.") from exc
        digest = ApiToken.digest_of(raw)
        with all_schools():  # the token says which school
            token = ApiToken.objects.select_related("user", "school").filter(digest=digest).first()
            if token is None or token.revoked_at is not None:
                raise exceptions.AuthenticationFailed("This token is unknown or was revoked.")
            if not token.user.is_active:
                raise exceptions.AuthenticationFailed("The token's user account is disabled.")
            now = timezone.now()
            if token.last_used_at is None or now - token.last_used_at > self.touch_every:
                ApiToken.objects.filter(id=token.id).update(last_used_at=now)
        return token.user, token

    def authenticate_header(self, request):
        # Makes DRF answer 401 (not 403) to a request without valid credentials.
        return 'Bearer realm="api"'


class PagePagination(pagination.PageNumberPagination):
    page_size = 100
    page_size_query_param = "page_size"
    max_page_size = 1000
