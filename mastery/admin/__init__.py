"""The Django admin, for setting up a school: scoped to the schools the user administers.

Superusers see every school. A school admin (a `school_admin` membership) may sign in to the admin
and sees, adds and changes only rows of the schools they administer; every foreign-key choice is
limited to those schools too. Evidence and Mastery records are read-only here: scores change only
through the services, which validate, void instead of overwrite, and recompute.

- `site`: the AdminSite (`admin_site`) and the tenancy lockdown base classes;
- `people`: users, memberships, districts and schools (the identity rule's admin forms);
- `framework`: departments, competencies, targets, scales; policies and the audit trail read-only.

Django's autodiscovery imports this package: importing `people` and `framework` here is what
registers their ModelAdmins on `admin_site`. That is the one import made for its side effect;
nothing else is re-exported (import `admin_site` and the base classes from `mastery.admin.site`).
"""

from mastery.admin import framework, people  # noqa: F401  (registers the ModelAdmins)
