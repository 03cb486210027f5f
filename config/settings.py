"""Settings for the mastery gradebook: one module, read from environment variables.

The defaults are safe for production (DEBUG off, secure cookies, CSP on) except the database,
which defaults to an embedded SQLite file so that `make demo` needs no services. Production and
the test suite set DATABASE_URL to PostgreSQL.
"""

import importlib.util
import os
from datetime import timedelta
from pathlib import Path

import dj_database_url
from celery.schedules import crontab
from django.core.exceptions import ImproperlyConfigured
from django.utils.csp import CSP

BASE_DIR = Path(__file__).resolve().parent.parent


def env_bool(name: str, default: bool) -> bool:
    value = os.environ.get(name)
    if value is None or value == "":
        return default
    if value.lower() in {"1", "true", "yes", "on"}:
        return True
    if value.lower() in {"0", "false", "no", "off"}:
        return False
    raise ImproperlyConfigured(f"{name} must be a boolean (1/0, true/false), got {value!r}")


def env_list(name: str, default: list[str]) -> list[str]:
    value = os.environ.get(name)
    if not value:
        return default
    return [item.strip() for item in value.split(",") if item.strip()]


DEBUG = env_bool("DEBUG", False)

SECRET_KEY = os.environ.get("SECRET_KEY", "")
if not SECRET_KEY:
    if not DEBUG:
        raise ImproperlyConfigured("Set SECRET_KEY (or DEBUG=1 for local development).")
    SECRET_KEY = "insecure-development-key-do-not-use-in-production"

ALLOWED_HOSTS = env_list("ALLOWED_HOSTS", ["localhost", "127.0.0.1", "[::1]"])
CSRF_TRUSTED_ORIGINS = env_list("CSRF_TRUSTED_ORIGINS", [])

INSTALLED_APPS = [
    "django.contrib.admin",
    "django.contrib.auth",
    "django.contrib.contenttypes",
    "django.contrib.sessions",
    "django.contrib.messages",
    "whitenoise.runserver_nostatic",
    "django.contrib.staticfiles",
    "django.contrib.humanize",
    "django_htmx",
    "rest_framework",
    "django_filters",
    "drf_spectacular",
    "drf_spectacular_sidecar",
    "axes",
    "anymail",
    "oauth2_provider",
    "allauth",
    "allauth.account",
    "allauth.socialaccount",
    "allauth.socialaccount.providers.openid_connect",
    "allauth.socialaccount.providers.saml",
    "mastery.apps.MasteryConfig",
    "grading.apps.GradingConfig",
    "gradebook.apps.GradebookConfig",
    "intervention.apps.InterventionConfig",
    "years.apps.YearsConfig",
    "marks.apps.MarksConfig",
    "sis.apps.SisConfig",
    "reports.apps.ReportsConfig",
    "alerts.apps.AlertsConfig",
]
# The benchmark and the demo data (devtools/) are not in the production image: installed where
# the package is present (a checkout), so `manage.py bench` and `seed_demo` exist there only.
if importlib.util.find_spec("devtools") is not None:
    INSTALLED_APPS.append("devtools.apps.DevtoolsConfig")

MIDDLEWARE = [
    "django.middleware.security.SecurityMiddleware",
    "whitenoise.middleware.WhiteNoiseMiddleware",
    "django.contrib.sessions.middleware.SessionMiddleware",
    "django.middleware.locale.LocaleMiddleware",
    "django.middleware.common.CommonMiddleware",
    "django.middleware.csrf.CsrfViewMiddleware",
    "django.contrib.auth.middleware.AuthenticationMiddleware",
    "mastery.middleware.UserLanguageMiddleware",
    # A signed-in person's pages are never served stale from the browser's cache (Back button).
    "mastery.middleware.NoStoreMiddleware",
    "django.contrib.messages.middleware.MessageMiddleware",
    "django.middleware.clickjacking.XFrameOptionsMiddleware",
    "django.middleware.csp.ContentSecurityPolicyMiddleware",
    "django_htmx.middleware.HtmxMiddleware",
    # allauth's sign-in flows need it (district single sign-on, mastery.sso).
    "allauth.account.middleware.AccountMiddleware",
    # Resolves /s/<school-slug>/, checks the membership and runs the request in a tenant scope.
    "mastery.middleware.SchoolScopeMiddleware",
    # Last, as axes asks: turns a refused login into our answer (mastery.auth.lockout_response).
    "axes.middleware.AxesMiddleware",
]

ROOT_URLCONF = "config.urls"
WSGI_APPLICATION = "config.wsgi.application"

TEMPLATES = [
    {
        "BACKEND": "django.template.backends.django.DjangoTemplates",
        "DIRS": [BASE_DIR / "templates"],
        "APP_DIRS": True,
        "OPTIONS": {
            "context_processors": [
                "django.template.context_processors.request",
                "django.template.context_processors.i18n",
                "django.template.context_processors.csp",
                "django.contrib.auth.context_processors.auth",
                "django.contrib.messages.context_processors.messages",
                "mastery.context_processors.school",
            ],
        },
    },
]

DATABASES = {
    "default": dj_database_url.parse(
        os.environ.get("DATABASE_URL", f"sqlite:///{BASE_DIR / 'demo.sqlite3'}"),
        conn_max_age=int(os.environ.get("DATABASE_CONN_MAX_AGE", "60")),
        conn_health_checks=True,
    )
}
# PostgreSQL's row-level security (mastery.rls) binds the role the app connects as only if that
# role neither owns the tables nor may bypass it: in production DATABASE_URL names such a role,
# and `manage.py migrate` connects as the owner from MIGRATE_DATABASE_URL (when set), then grants
# the app's role (APP_DB_ROLE, by default DATABASE_URL's user) what it needs.
MIGRATE_DATABASE_URL = os.environ.get("MIGRATE_DATABASE_URL", "")
APP_DB_ROLE = os.environ.get("APP_DB_ROLE") or (
    DATABASES["default"].get("USER", "") if MIGRATE_DATABASE_URL else ""
)
if DATABASES["default"]["ENGINE"] == "django.db.backends.postgresql":
    # Django's backend with the tenant wall put into every transaction (mastery.rls).
    DATABASES["default"]["ENGINE"] = "mastery.postgres"
    # Request-serving sessions: JIT only adds compile time to our mid-sized queries, and the
    # data set fits in RAM (see notes/performance-facts.md).
    DATABASES["default"].setdefault("OPTIONS", {})["options"] = "-c jit=off -c random_page_cost=1.1"
    DATABASES["default"]["TEST"] = {"NAME": os.environ.get("TEST_DATABASE_NAME") or None}
else:
    # SQLite for the demo: wait for the lock instead of failing with "database is locked".
    DATABASES["default"].setdefault("OPTIONS", {})["timeout"] = 20

DEFAULT_AUTO_FIELD = "django.db.models.BigAutoField"

AUTH_USER_MODEL = "mastery.User"
AUTHENTICATION_BACKENDS = [
    # django-axes first (a subclass of its AxesStandaloneBackend): refuses a locked-out attempt
    # before any password is checked, on the login page and the admin's alike.
    "mastery.auth.LoginThrottleBackend",
    "mastery.auth.EmailBackend",
]
LOGIN_URL = "login"
LOGIN_REDIRECT_URL = "home"
LOGOUT_REDIRECT_URL = "login"

PASSWORD_HASHERS = [
    "django.contrib.auth.hashers.Argon2PasswordHasher",
    "django.contrib.auth.hashers.PBKDF2PasswordHasher",
]
AUTH_PASSWORD_VALIDATORS = [
    {"NAME": "django.contrib.auth.password_validation.UserAttributeSimilarityValidator"},
    {"NAME": "django.contrib.auth.password_validation.MinimumLengthValidator"},
    {"NAME": "django.contrib.auth.password_validation.CommonPasswordValidator"},
    {"NAME": "django.contrib.auth.password_validation.NumericPasswordValidator"},
]

# --- Login throttling (django-axes; mastery.auth) ---------------------------------------------
# Failed logins are counted per (account, address) pair: LOGIN_FAILURE_LIMIT failures for one
# account from one address lock that pair until LOGIN_COOLOFF_MINUTES have passed since its last
# counted failure. Nobody else is touched: made-up emails typed behind a school's NAT (or the TLS
# proxy) lock only themselves, and a locked account still signs in from any other address.
AXES_LOCKOUT_PARAMETERS = [["username", "ip_address"]]
AXES_FAILURE_LIMIT = int(os.environ.get("LOGIN_FAILURE_LIMIT", "10"))
AXES_COOLOFF_TIME = timedelta(minutes=int(os.environ.get("LOGIN_COOLOFF_MINUTES", "15")))
# Tries while locked are refused and not counted (the cool-off does not grow); a successful login
# clears its pair's count.
AXES_RESET_COOL_OFF_ON_FAILURE_DURING_LOCKOUT = False
AXES_RESET_ON_SUCCESS = True
# Axes' database handler (extended in mastery.auth): every gunicorn worker and host counts in the
# same PostgreSQL rows whatever the cache. The cache handler would share counts through Redis in
# production too, but a Redis outage (ResilientRedisCache answers "nothing cached") would silently
# switch throttling off, and the demo's local-memory cache is per process (axes.W001). A failed
# login writes one small row per pair, deleted once its cool-off has passed. Successful logins are
# not logged by axes (its AccessLog would grow without end; the audit trail has credential events).
AXES_HANDLER = "mastery.auth.LoginThrottleHandler"
AXES_DISABLE_ACCESS_LOG = True
# The account as the login backend compares it (case-insensitive email); the client's address as
# TRUSTED_PROXY_COUNT says; a refused login answers the login page with our message, as today.
AXES_USERNAME_CALLABLE = "mastery.auth.login_username"
AXES_CLIENT_IP_CALLABLE = "mastery.auth.client_address"
AXES_LOCKOUT_CALLABLE = "mastery.auth.lockout_response"
# Password spraying (one address, many accounts): past LOGIN_ADDRESS_FAILURE_LIMIT failures inside
# the cool-off window an address is slowed, not locked: after each further failure it waits
# LOGIN_ADDRESS_COOLOFF_SECONDS before its next attempt. Accounts that signed in from that address
# in the last 30 days are not slowed (mastery.auth.LoginThrottleBackend).
LOGIN_ADDRESS_FAILURE_LIMIT = int(os.environ.get("LOGIN_ADDRESS_FAILURE_LIMIT", "50"))
LOGIN_ADDRESS_COOLOFF_SECONDS = int(os.environ.get("LOGIN_ADDRESS_COOLOFF_SECONDS", "60"))
# How many proxies the app sits behind (the TLS proxy: 1). 0: the client is REMOTE_ADDR and
# X-Forwarded-For is ignored (a client could forge it); N: the client is the N-th address from the
# right of X-Forwarded-For, the one the outermost trusted proxy saw. Read by login throttling, the
# invitation-code tries (mastery.auth.client_address) and the API's throttles (NUM_PROXIES).
TRUSTED_PROXY_COUNT = max(0, int(os.environ.get("TRUSTED_PROXY_COUNT", "0")))

LANGUAGE_CODE = "en"
LANGUAGES = [("en", "English"), ("es", "Español")]
LOCALE_PATHS = [BASE_DIR / "mastery" / "locale"]
TIME_ZONE = os.environ.get("TIME_ZONE", "America/Los_Angeles")
USE_I18N = True
USE_TZ = True

STATIC_URL = "static/"
STATIC_ROOT = BASE_DIR / "staticfiles"
STATICFILES_DIRS = [BASE_DIR / "static"]
STORAGES = {
    "default": {"BACKEND": "django.core.files.storage.FileSystemStorage"},
    "staticfiles": {
        "BACKEND": (
            "django.contrib.staticfiles.storage.StaticFilesStorage"
            if DEBUG
            else "whitenoise.storage.CompressedManifestStaticFilesStorage"
        )
    },
}
# Tests and the demo serve files straight from the finders, without collectstatic.
WHITENOISE_USE_FINDERS = DEBUG or env_bool("WHITENOISE_USE_FINDERS", False)
MEDIA_ROOT = Path(os.environ.get("MEDIA_ROOT", BASE_DIR / "media"))

# Evidence files (photos and PDFs of students' work, docs/files.md): the named storage "evidence",
# never served at a public URL (only through the authorized download view). The file system under
# MEDIA_ROOT by default; an S3-compatible bucket (django-storages) when EVIDENCE_S3_BUCKET is set,
# private (no ACL, no public URL: the view streams the bytes), credentials from the usual AWS_*
# variables or the instance's role. Back it up with the database (docs/operations.md).
if os.environ.get("EVIDENCE_S3_BUCKET"):
    STORAGES["evidence"] = {
        "BACKEND": "storages.backends.s3.S3Storage",
        "OPTIONS": {
            "bucket_name": os.environ["EVIDENCE_S3_BUCKET"],
            "endpoint_url": os.environ.get("EVIDENCE_S3_ENDPOINT_URL") or None,
            "region_name": os.environ.get("EVIDENCE_S3_REGION") or None,
            "default_acl": None,
            "querystring_auth": True,
            "file_overwrite": False,
            "location": os.environ.get("EVIDENCE_S3_PREFIX", ""),
        },
    }
else:
    STORAGES["evidence"] = {
        "BACKEND": "django.core.files.storage.FileSystemStorage",
        # base_url None: the storage has no URL of its own; files are read through the view.
        "OPTIONS": {"location": MEDIA_ROOT / "evidence-files", "base_url": None},
    }
# One file's size after upload (a phone photo is 2-8 MB) and the files of one upload.
EVIDENCE_FILE_MAX_BYTES = int(os.environ.get("EVIDENCE_FILE_MAX_BYTES", 15 * 1024 * 1024))
EVIDENCE_FILES_PER_UPLOAD = int(os.environ.get("EVIDENCE_FILES_PER_UPLOAD", 6))

# Mail goes to the console unless SMTP is configured (Django 6.1 MAILERS).
if os.environ.get("EMAIL_HOST"):
    MAILERS = {
        "default": {
            "BACKEND": "django.core.mail.backends.smtp.EmailBackend",
            "OPTIONS": {
                "host": os.environ["EMAIL_HOST"],
                "port": int(os.environ.get("EMAIL_PORT", "587")),
                "username": os.environ.get("EMAIL_HOST_USER", ""),
                "password": os.environ.get("EMAIL_HOST_PASSWORD", ""),
                "use_tls": env_bool("EMAIL_USE_TLS", True),
                "timeout": 10,
            },
        }
    }
else:
    MAILERS = {"default": {"BACKEND": "django.core.mail.backends.console.EmailBackend"}}
# A mail provider's API instead of SMTP (django-anymail): ANYMAIL_ESP names it (postmark,
# amazon_ses, sendgrid, mailgun, brevo…), and every other ANYMAIL_* variable is its setting
# (ANYMAIL_POSTMARK_SERVER_TOKEN, ANYMAIL_WEBHOOK_SECRET for its bounce webhook…).
ANYMAIL_ESP = os.environ.get("ANYMAIL_ESP", "")
ANYMAIL = {
    name.removeprefix("ANYMAIL_"): value
    for name, value in os.environ.items()
    if name.startswith("ANYMAIL_") and name != "ANYMAIL_ESP"
}
if ANYMAIL_ESP:
    MAILERS = {"default": {"BACKEND": f"anymail.backends.{ANYMAIL_ESP}.EmailBackend"}}
DEFAULT_FROM_EMAIL = os.environ.get("DEFAULT_FROM_EMAIL", "gradebook@localhost")
# Where links in emails sent outside a request point (activation emails after a command-line
# import): the address people reach the site at.
SITE_URL = os.environ.get("SITE_URL", "http://127.0.0.1:8000")

# Cache: Redis in production (throttling counters are shared across gunicorn workers); the demo
# and a missing REDIS_URL fall back to the local-memory cache.
REDIS_URL = os.environ.get("REDIS_URL", "redis://127.0.0.1:6379/0")
if env_bool("CACHE_USE_REDIS", bool(os.environ.get("REDIS_URL")) and not DEBUG):
    CACHES = {
        "default": {
            # A Redis outage degrades to "nothing cached" instead of failing requests.
            "BACKEND": "mastery.cache.ResilientRedisCache",
            "LOCATION": REDIS_URL,
            "OPTIONS": {"socket_connect_timeout": 1, "socket_timeout": 1},
        }
    }
else:
    CACHES = {"default": {"BACKEND": "django.core.cache.backends.locmem.LocMemCache"}}

# --- Security --------------------------------------------------------------------------------
SECURE_HTTPS = env_bool("SECURE_HTTPS", not DEBUG)
SESSION_COOKIE_SECURE = SECURE_HTTPS
CSRF_COOKIE_SECURE = SECURE_HTTPS
SESSION_COOKIE_HTTPONLY = True
# Sessions read through the cache (Redis in production), written through to the database.
SESSION_ENGINE = "django.contrib.sessions.backends.cached_db"
SESSION_COOKIE_SAMESITE = "Lax"
SECURE_CONTENT_TYPE_NOSNIFF = True
SECURE_REFERRER_POLICY = "same-origin"
X_FRAME_OPTIONS = "DENY"
SECURE_PROXY_SSL_HEADER = ("HTTP_X_FORWARDED_PROTO", "https") if SECURE_HTTPS else None
# HSTS: a year once the site is HTTPS. Subdomains and the browsers' preload list are opt-in: a
# district's domain may host other sites still on plain HTTP, and preloading is hard to undo.
SECURE_HSTS_SECONDS = int(os.environ.get("SECURE_HSTS_SECONDS", 31_536_000 if SECURE_HTTPS else 0))
SECURE_HSTS_INCLUDE_SUBDOMAINS = env_bool("SECURE_HSTS_INCLUDE_SUBDOMAINS", False)
SECURE_HSTS_PRELOAD = env_bool("SECURE_HSTS_PRELOAD", False)
# `check --deploy` warns while either is off; off is a decision here, so those two are silenced.
SILENCED_SYSTEM_CHECKS = [
    check
    for check, opted_in in (
        ("security.W005", SECURE_HSTS_INCLUDE_SUBDOMAINS),
        ("security.W021", SECURE_HSTS_PRELOAD),
    )
    if not opted_in
]
# Plain HTTP is redirected to HTTPS when the deployment declares SECURE_HTTPS=1 (docker-compose
# does); SECURE_SSL_REDIRECT=0 when the proxy redirects already. SECURE_HTTPS that only follows
# DEBUG (the test suite, whose client and live server speak plain HTTP) does not redirect.
SECURE_SSL_REDIRECT = env_bool(
    "SECURE_SSL_REDIRECT", SECURE_HTTPS and bool(os.environ.get("SECURE_HTTPS"))
)
# The container's health check asks over plain HTTP from inside.
SECURE_REDIRECT_EXEMPT = [r"^healthz$"]

# Request bodies: forms and JSON up to 2.5 MB held in memory (Django's default, written down);
# the no-JavaScript scoring grid posts one field per cell (40 students × 25 targets and their
# comments pass; Django's default of 1,000 fields would not). Uploads above 2.5 MB are spooled to
# disk, and each upload form caps its own (targets CSV 2 MB; OneRoster 20 MB of .zip or .csv).
# Django sets no cap on a whole upload: the TLS proxy in front should (100 MB: evidence photos,
# up to EVIDENCE_FILES_PER_UPLOAD files of EVIDENCE_FILE_MAX_BYTES each, below).
DATA_UPLOAD_MAX_MEMORY_SIZE = 2_621_440
DATA_UPLOAD_MAX_NUMBER_FIELDS = 5_000
FILE_UPLOAD_MAX_MEMORY_SIZE = 2_621_440

# Django's built-in CSP: only our own origin, inline scripts only with the per-request nonce.
SECURE_CSP = {
    "default-src": [CSP.SELF],
    "script-src": [CSP.SELF, CSP.NONCE],
    "style-src": [CSP.SELF, CSP.NONCE],
    "img-src": [CSP.SELF, "data:"],
    "font-src": [CSP.SELF],
    "connect-src": [CSP.SELF],
    "form-action": [CSP.SELF],
    "frame-ancestors": [CSP.NONE],
    "base-uri": [CSP.SELF],
    "object-src": [CSP.NONE],
}

# How many connections a school's full recompute splits over (grading.school
# school_recompute_parts): PostgreSQL runs no INSERT in parallel, so one connection uses one core.
# Each share is a database connection and a core for a second or two; 1 turns the split off.
RECOMPUTE_PARTS = max(1, int(os.environ.get("RECOMPUTE_PARTS", "2")))

# --- Celery ----------------------------------------------------------------------------------
CELERY_BROKER_URL = os.environ.get("CELERY_BROKER_URL", REDIS_URL)
CELERY_RESULT_BACKEND = os.environ.get("CELERY_RESULT_BACKEND", REDIS_URL)
CELERY_TASK_ALWAYS_EAGER = env_bool("CELERY_TASK_ALWAYS_EAGER", False)
CELERY_TASK_EAGER_PROPAGATES = True
CELERY_TASK_ACKS_LATE = True
CELERY_TASK_REJECT_ON_WORKER_LOST = True
CELERY_WORKER_PREFETCH_MULTIPLIER = 1
CELERY_TASK_SERIALIZER = "json"
CELERY_RESULT_SERIALIZER = "json"
CELERY_ACCEPT_CONTENT = ["json"]
CELERY_RESULT_EXPIRES = 3600
CELERY_TIMEZONE = TIME_ZONE
# A dead broker must not hang a request (setup-facts: ~21 s otherwise). Most of that wait is the
# Redis result backend reconnecting 20 times, so results are off: tasks record what they did in the
# database. Publishing retries briefly, then fails; callers log and the catch-up task repairs.
CELERY_TASK_IGNORE_RESULT = True
CELERY_TASK_PUBLISH_RETRY_POLICY = {
    "max_retries": 2,
    "interval_start": 0,
    "interval_step": 0.2,
    "interval_max": 0.5,
}
CELERY_BROKER_CONNECTION_TIMEOUT = 2
CELERY_BROKER_TRANSPORT_OPTIONS = {
    "socket_connect_timeout": 2,
    "socket_timeout": 5,
    "max_retries": 1,
    # How long an unacknowledged task (its worker died) waits before another worker gets it.
    "visibility_timeout": int(os.environ.get("CELERY_VISIBILITY_TIMEOUT", "3600")),
}
CELERY_BEAT_SCHEDULE = {
    # Alerts: build what is due and send it (each school with news; see alerts.tasks).
    "alerts-dispatch": {
        "task": "alerts.dispatch",
        "schedule": 60.0,
    },
    # Early morning: teachers with marks to post before a posting window closes; families whose
    # report cards are released today.
    "alerts-dispatch-dated-news": {
        "task": "alerts.dispatch_dated_news",
        "schedule": crontab(hour=6, minute=0),
    },
    "recompute-stale-schools": {
        "task": "gradebook.recompute_stale_schools",
        "schedule": 600.0,
    },
    # Every morning before school: close ended intervention cycles, open and build the next ones.
    "intervention-dispatch-cycles": {
        "task": "intervention.dispatch_cycles",
        "schedule": crontab(hour=5, minute=15),
    },
    # Nightly: reassessment requests whose grading period ended or whose sitting passed expire.
    "gradebook-expire-requests": {
        "task": "gradebook.dispatch_request_expiry",
        "schedule": crontab(hour=1, minute=30),
    },
    # Nightly: the dashboards' baselines whose dates gained or lost evidence since they were taken.
    "reports-refresh-baselines": {
        "task": "reports.refresh_baselines",
        "schedule": crontab(hour=2, minute=30),
    },
    # Nightly: each district school's row of the district page (the page renews rows over an hour
    # old as it is opened; this makes the morning's first visit current).
    "reports-refresh-school-figures": {
        "task": "reports.refresh_school_figures",
        "schedule": crontab(hour=3, minute=0),
    },
}

REST_FRAMEWORK = {
    # Machines send a personal token; the browser (the browsable API, Swagger UI) its session.
    "DEFAULT_AUTHENTICATION_CLASSES": [
        "mastery.api_plumbing.ApiTokenAuthentication",
        "rest_framework.authentication.SessionAuthentication",
    ],
    "DEFAULT_PERMISSION_CLASSES": ["rest_framework.permissions.IsAuthenticated"],
    # JSON only: browsers have the Swagger UI at /api/docs/ (DRF's browsable API would render
    # its forms after the view has left the school's scope).
    "DEFAULT_RENDERER_CLASSES": ["rest_framework.renderers.JSONRenderer"],
    "DEFAULT_FILTER_BACKENDS": ["django_filters.rest_framework.DjangoFilterBackend"],
    "DEFAULT_PAGINATION_CLASS": "mastery.api_plumbing.PagePagination",
    "PAGE_SIZE": 100,
    "DEFAULT_THROTTLE_CLASSES": [
        "rest_framework.throttling.UserRateThrottle",
        "rest_framework.throttling.AnonRateThrottle",
    ],
    "DEFAULT_THROTTLE_RATES": {
        "user": os.environ.get("API_THROTTLE_USER", "1200/min"),
        "anon": os.environ.get("API_THROTTLE_ANON", "60/min"),
    },
    # Anonymous requests are counted per client address, read as TRUSTED_PROXY_COUNT says.
    "NUM_PROXIES": TRUSTED_PROXY_COUNT,
    "EXCEPTION_HANDLER": "mastery.rest.api_exception_handler",
    "DEFAULT_SCHEMA_CLASS": "drf_spectacular.openapi.AutoSchema",
    "COERCE_DECIMAL_TO_STRING": False,
}

SPECTACULAR_SETTINGS = {
    "TITLE": "Mastery gradebook API",
    "DESCRIPTION": (
        "Everything of one school lives under /api/v1/schools/{school_slug}/. Authenticate with "
        "a personal token (`Authorization: Bearer mgb_…`) made on the school's API tokens page; "
        "it reaches that school only, with the roles its user holds there. Lists are paged "
        "(`page`, `page_size` up to 1000). Errors are JSON: `{status, code, detail, errors}`."
    ),
    "VERSION": "1.0.0",
    "SERVE_INCLUDE_SCHEMA": False,
    # Tags (the docs' groups) by resource: students, evidence, mastery…
    "SCHEMA_PATH_PREFIX": r"/api/v1(/schools/\{school_slug\})?",
    "COMPONENT_SPLIT_REQUEST": True,
    "SWAGGER_UI_DIST": "SIDECAR",
    "SWAGGER_UI_FAVICON_HREF": "SIDECAR",
    "REDOC_DIST": "SIDECAR",
    "ENUM_NAME_OVERRIDES": {
        "CompetencyKindEnum": "mastery.models.Competency.Kind",
        "AssessmentKindEnum": "gradebook.models.AssessmentKind",
        "GroupKindEnum": "intervention.models.GroupKind",
        "EvidenceStatusEnum": "gradebook.models.EvidenceStatus",
        "CycleStatusEnum": "intervention.models.InterventionCycle.Status",
        "BatchStatusEnum": "reports.models.ReportBatch.Status",
        "PostedMarkKindEnum": "marks.models.PostedMark.Kind",
        "PreferredLanguageEnum": LANGUAGES,
        "LanguageEnum": "reports.models.ReportBatch.Language",
    },
    "POSTPROCESSING_HOOKS": [
        "drf_spectacular.hooks.postprocess_schema_enums",
        "mastery.rest.add_error_responses",
    ],
}

LOGGING = {
    "version": 1,
    "disable_existing_loggers": False,
    "formatters": {"plain": {"format": "%(asctime)s %(levelname)s %(name)s: %(message)s"}},
    "handlers": {"console": {"class": "logging.StreamHandler", "formatter": "plain"}},
    "root": {"handlers": ["console"], "level": os.environ.get("LOG_LEVEL", "INFO")},
    "loggers": {
        "django.db.backends": {"level": "INFO"},
        # Axes logs three INFO lines per login; its warnings (each failure, each lockout) stay.
        "axes": {"level": "WARNING"},
        # WeasyPrint logs every layout step at INFO and CSS it ignores at WARNING.
        "weasyprint": {"level": "ERROR"},
        "fontTools": {"level": "WARNING"},
    },
}

# The admin lives under this prefix; the school middleware runs it with scopes disabled and the
# ModelAdmins filter every queryset by the user's schools.
ADMIN_URL = os.environ.get("ADMIN_URL", "admin/")

# --- CASE standards import (mastery.standards) -----------------------------------------------------
# Hosts an import by URL may reach even though they resolve to a private or loopback address (an
# operator's own CASE server); every other host must resolve to public addresses only.
CASE_IMPORT_ALLOWED_HOSTS = env_list("CASE_IMPORT_ALLOWED_HOSTS", [])
CASE_IMPORT_MAX_BYTES = int(os.environ.get("CASE_IMPORT_MAX_BYTES", str(50 * 1000 * 1000)))
CASE_IMPORT_TIMEOUT = float(os.environ.get("CASE_IMPORT_TIMEOUT", "20"))
# A CA bundle trusted besides the system's (an internal CASE server's own CA); empty: system only.
CASE_IMPORT_CA_FILE = os.environ.get("CASE_IMPORT_CA_FILE", "")

# --- Grades to the SIS (sis) ---------------------------------------------------------------------
# OAuth 2 for the OneRoster Gradebook REST binding: client credentials only (SIS service accounts
# made on the SIS page, each Application of grant type client-credentials), secrets hashed,
# tokens for an hour, the binding's read scope.
OAUTH2_PROVIDER = {
    "ACCESS_TOKEN_EXPIRE_SECONDS": int(os.environ.get("SIS_TOKEN_SECONDS", "3600")),
    "SCOPES": {
        "https://purl.imsglobal.org/spec/or/v1p2/scope/gradebook.readonly": (
            "Read the OneRoster gradebook"
        ),
    },
    "DEFAULT_SCOPES": ["https://purl.imsglobal.org/spec/or/v1p2/scope/gradebook.readonly"],
    # The OAuth 2.0 Security BCP (RFC 9700) throughout: tokens stored hashed, never taken from the
    # query string, no implicit or password grant, https redirects only (none are used here).
    "COMPLIANT_BCP_RFC9700_IMPLICIT_GRANT": True,
    "COMPLIANT_BCP_RFC9700_PASSWORD_GRANT": True,
    "COMPLIANT_BCP_RFC9700_PKCE_METHOD": True,
    "COMPLIANT_BCP_RFC9700_ACCESS_TOKEN_TRANSPORT": True,
    "COMPLIANT_BCP_RFC9700_AUTHZ_RESPONSE_ISS": True,
    "COMPLIANT_BCP_RFC9700_TOKEN_STORAGE": True,
    "COMPLIANT_BCP_RFC9700_REFRESH_TOKEN": True,
    "COMPLIANT_BCP_RFC9700_REDIRECT_URI_SCHEME": True,
    "REFRESH_TOKEN_REUSE_PROTECTION": True,
    "ALLOWED_REDIRECT_URI_SCHEMES": ["https"],
}
# django-oauth-toolkit's own models (named so Django's migration graph can resolve them).
OAUTH2_PROVIDER_APPLICATION_MODEL = "oauth2_provider.Application"
OAUTH2_PROVIDER_ACCESS_TOKEN_MODEL = "oauth2_provider.AccessToken"
OAUTH2_PROVIDER_REFRESH_TOKEN_MODEL = "oauth2_provider.RefreshToken"
OAUTH2_PROVIDER_ID_TOKEN_MODEL = "oauth2_provider.IDToken"
OAUTH2_PROVIDER_GRANT_MODEL = "oauth2_provider.Grant"
# The key the secrets the app reads back are encrypted with (Fernet: the SIS's push secret, the
# districts' identity-provider secrets; mastery.crypto). Derived from SECRET_KEY when unset, so
# rotating SECRET_KEY then means entering those secrets again. SIS_CREDENTIALS_KEY: its old name.
SECRETS_KEY = os.environ.get("SECRETS_KEY", "")
SIS_CREDENTIALS_KEY = os.environ.get("SIS_CREDENTIALS_KEY", "")
# Hosts a push may reach although they resolve to a private or loopback address (a SIS inside the
# district's network); every other host must resolve to public addresses only. https only.
SIS_PUSH_ALLOWED_HOSTS = env_list("SIS_PUSH_ALLOWED_HOSTS", [])
SIS_PUSH_CA_FILE = os.environ.get("SIS_PUSH_CA_FILE", "")
SIS_PUSH_TIMEOUT = float(os.environ.get("SIS_PUSH_TIMEOUT", "20"))
# A push that could not reach the SIS (or was told to wait) tries again this many times, waiting
# SIS_PUSH_BACKOFF seconds, then twice that, and so on.
SIS_PUSH_RETRIES = int(os.environ.get("SIS_PUSH_RETRIES", "5"))
SIS_PUSH_BACKOFF = float(os.environ.get("SIS_PUSH_BACKOFF", "30"))

# --- District single sign-on (mastery.sso, docs/sso.md) -------------------------------------------
# django-allauth for OpenID Connect, its apps built from each district's own settings
# (DistrictIdentityProvider), never from settings files nor allauth's table. Only its OpenID
# Connect views are mounted: none of its password, signup or reset pages (mastery.accounts owns
# credentials). Signup is closed, email matching off, no token stored.
ACCOUNT_LOGIN_METHODS = {"email"}
ACCOUNT_SIGNUP_FIELDS = ["email*"]
ACCOUNT_USER_MODEL_USERNAME_FIELD = None
ACCOUNT_EMAIL_VERIFICATION = "none"
SOCIALACCOUNT_ADAPTER = "mastery.sso.adapter.DistrictSsoAdapter"
SOCIALACCOUNT_PROVIDERS = {
    "openid_connect": {"provider_class": "mastery.sso.provider.DistrictOIDCProvider"},
    "saml": {"provider_class": "mastery.sso.provider.DistrictSAMLProvider"},
}
SOCIALACCOUNT_EMAIL_AUTHENTICATION = False
SOCIALACCOUNT_EMAIL_AUTHENTICATION_AUTO_CONNECT = False
SOCIALACCOUNT_AUTO_SIGNUP = False
SOCIALACCOUNT_EMAIL_VERIFICATION = "none"
SOCIALACCOUNT_STORE_TOKENS = False
SOCIALACCOUNT_LOGIN_ON_GET = False
SOCIALACCOUNT_REQUESTS_TIMEOUT = 5
# A district's issuer on this machine's loopback (http allowed): the test suite's provider, or an
# operator trying a provider out. Off: the server never fetches its own services' addresses.
SSO_LOOPBACK_ISSUERS = env_bool("SSO_LOOPBACK_ISSUERS", False)
# Hosts of districts' providers that may resolve to private addresses (a district's own ADFS on
# the intranet); every other provider URL the server fetches must be public (mastery.sso.fetch).
SSO_ALLOWED_HOSTS = env_list("SSO_ALLOWED_HOSTS", [])
# How long a provider's discovery document and signing keys are kept (a key id not among the kept
# keys fetches them again).
SSO_METADATA_CACHE_SECONDS = int(os.environ.get("SSO_METADATA_CACHE_SECONDS", "3600"))
# A CA bundle trusted besides the system's for providers' https (an intranet provider's own CA).
SSO_CA_FILE = os.environ.get("SSO_CA_FILE", "")
# The most a provider's discovery, keys or token answer may be (bytes), read within twice
# SOCIALACCOUNT_REQUESTS_TIMEOUT in all.
SSO_MAX_RESPONSE_BYTES = int(os.environ.get("SSO_MAX_RESPONSE_BYTES", "1000000"))

# Alerts (alerts/, docs/alerts.md): news waits ALERTS_GRACE_SECONDS before it is built (a score
# corrected within that time mails nothing); digests go out at ALERTS_DIGEST_HOUR in the school's
# time zone, the weekly one on ALERTS_WEEKLY_DAY (0 Monday … 4 Friday).
ALERTS_GRACE_SECONDS = int(os.environ.get("ALERTS_GRACE_SECONDS", "600"))
ALERTS_DIGEST_HOUR = int(os.environ.get("ALERTS_DIGEST_HOUR", "17"))
ALERTS_WEEKLY_DAY = int(os.environ.get("ALERTS_WEEKLY_DAY", "4"))
# Mails handed to the mail backend per batch (each still marked sent one by one).
ALERTS_BATCH = int(os.environ.get("ALERTS_BATCH", "500"))
# Teachers hear of a posting deadline this many days before the window closes.
ALERTS_DEADLINE_DAYS = int(os.environ.get("ALERTS_DEADLINE_DAYS", "2"))
# Build and send as soon as news commits, not on the next minute's run (the demo).
ALERTS_RUN_ON_COMMIT = env_bool("ALERTS_RUN_ON_COMMIT", False)
