"""District single sign-on (docs/sso.md): OpenID Connect through django-allauth, configured per
district by its district admin, matching accounts by the identity rule (mastery.accounts)."""
