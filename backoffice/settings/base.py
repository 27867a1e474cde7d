"""Settings shared by every environment. Values come only from the environment, through `backoffice.env`."""

from __future__ import annotations

import datetime as dt
from pathlib import Path

from csp.constants import NONCE, NONE, SELF, UNSAFE_EVAL, UNSAFE_INLINE

from backoffice.env import BASE_DIR, env

VAR_DIR = Path(env.str("PITBOSS_VAR_DIR", default=str(BASE_DIR / "var")))

SECRET_KEY = env.str("DJANGO_SECRET_KEY")
DEBUG = env.bool("DJANGO_DEBUG", default=False)
ALLOWED_HOSTS = env.list("DJANGO_ALLOWED_HOSTS", default=["127.0.0.1", "localhost"])
CSRF_TRUSTED_ORIGINS = env.list("DJANGO_CSRF_TRUSTED_ORIGINS", default=[])

INSTALLED_APPS = [
    "unfold",
    "unfold.contrib.filters",
    "django.contrib.admin",
    "django.contrib.auth",
    "django.contrib.contenttypes",
    "django.contrib.sessions",
    "django.contrib.messages",
    "django.contrib.staticfiles",
    "django.contrib.postgres",
    "rest_framework",
    "django_filters",
    "drf_spectacular",
    "drf_spectacular_sidecar",
    "django_celery_beat",
    "django_structlog",
    "axes",
    "corsheaders",
    "backoffice",
    "crm",
    "gamification",
    "integrations",
]

MIDDLEWARE = [
    "django.middleware.security.SecurityMiddleware",
    # CORS only on the drop-in compatible paths (CORS_URLS_REGEX); before anything that could answer their preflight.
    "corsheaders.middleware.CorsMiddleware",
    # Outside everything below, so that every /api/v1/ answer (errors and 429s included) is marked no-store.
    "backoffice.middleware.ApiNoStoreMiddleware",
    "csp.middleware.CSPMiddleware",
    "whitenoise.middleware.WhiteNoiseMiddleware",
    # Before anything reads the path or query: a NUL character or non-UTF-8 query answers 400, not a DataError 500.
    "backoffice.sanitize.MalformedRequestMiddleware",
    # Before anything that reads the database: a request that gets no connection answers 503, not 500.
    "backoffice.middleware.DatabaseUnavailableMiddleware",
    "django.contrib.sessions.middleware.SessionMiddleware",
    "django.middleware.common.CommonMiddleware",
    "django.middleware.csrf.CsrfViewMiddleware",
    "django.contrib.auth.middleware.AuthenticationMiddleware",
    "django.contrib.messages.middleware.MessageMiddleware",
    "django.middleware.clickjacking.XFrameOptionsMiddleware",
    "django_structlog.middlewares.RequestMiddleware",
    # Last, as django-axes asks: it turns a locked-out login into the lockout page.
    "axes.middleware.AxesMiddleware",
]

ROOT_URLCONF = "backoffice.urls"
WSGI_APPLICATION = "backoffice.wsgi.application"

TEMPLATES = [
    {
        "BACKEND": "django.template.backends.django.DjangoTemplates",
        "DIRS": [BASE_DIR / "templates"],
        "APP_DIRS": True,
        "OPTIONS": {
            "context_processors": [
                "django.template.context_processors.request",
                "django.contrib.auth.context_processors.auth",
                "django.contrib.messages.context_processors.messages",
            ],
        },
    },
]

# --- database: DATABASE_URL, or the embedded PostgreSQL under var/ ------------------------------------------------
_database_url = env.db("DATABASE_URL", default=None)
if _database_url:
    DATABASES = {"default": _database_url}
else:
    from backoffice.embedded_pg import database_settings

    DATABASES = {"default": database_settings(VAR_DIR)}
DATABASES["default"]["CONN_HEALTH_CHECKS"] = True
DATABASES["default"].setdefault("OPTIONS", {})["connect_timeout"] = 5
# Statements the code asks to prepare (`cursor.execute(..., prepare=True)` on a server-binding psycopg cursor: the
# pixel's INSERT, segments' live checks) are parsed and planned once per connection. Django's own cursors bind on the
# client and never prepare, whatever this says; Django's default (None) would silently turn `prepare=True` into a
# no-op. false: nothing is prepared (a pooler that cannot keep prepared statements, e.g. PgBouncer before 1.21 in
# transaction mode, or without max_prepared_statements).
DATABASE_PREPARED_STATEMENTS = env.bool("DATABASE_PREPARED_STATEMENTS", default=True)
DATABASES["default"]["OPTIONS"]["prepare_threshold"] = 5 if DATABASE_PREPARED_STATEMENTS else None
# One pool per process, shared by its threads; a forked child opens its own (backoffice/dbpool.py). A request that gets
# no connection within the timeout answers 503 (backoffice.middleware.DatabaseUnavailableMiddleware). Size it with the
# README's "Sizing connections"; 0 turns the pool off (e.g. behind PgBouncer in transaction mode).
DATABASE_POOL_MAX_SIZE = env.int("DATABASE_POOL_MAX_SIZE", default=8)
if DATABASE_POOL_MAX_SIZE > 0:
    from backoffice.dbpool import pool_options

    DATABASES["default"]["OPTIONS"]["pool"] = pool_options(
        max_size=DATABASE_POOL_MAX_SIZE, timeout=env.int("DATABASE_POOL_TIMEOUT", default=10)
    )
    DATABASES["default"]["CONN_MAX_AGE"] = 0  # Django refuses persistent connections beside a pool
    if env.int("DATABASE_CONN_MAX_AGE", default=0):
        from django.core.exceptions import ImproperlyConfigured

        raise ImproperlyConfigured("DATABASE_CONN_MAX_AGE applies only without the pool (DATABASE_POOL_MAX_SIZE=0).")
else:
    DATABASES["default"]["CONN_MAX_AGE"] = env.int("DATABASE_CONN_MAX_AGE", default=60)
DEFAULT_AUTO_FIELD = "django.db.models.BigAutoField"

AUTH_PASSWORD_VALIDATORS = [
    {"NAME": "django.contrib.auth.password_validation.UserAttributeSimilarityValidator"},
    {"NAME": "django.contrib.auth.password_validation.MinimumLengthValidator"},
    {"NAME": "django.contrib.auth.password_validation.CommonPasswordValidator"},
    {"NAME": "django.contrib.auth.password_validation.NumericPasswordValidator"},
]

LANGUAGE_CODE = "en-us"
TIME_ZONE = "UTC"
USE_I18N = True
USE_TZ = True

STATIC_URL = "static/"
STATIC_ROOT = VAR_DIR / "staticfiles"
STATIC_ROOT.mkdir(parents=True, exist_ok=True)  # whitenoise wants it even before collectstatic
STATICFILES_DIRS = [BASE_DIR / "static"]
STORAGES = {
    "default": {"BACKEND": "django.core.files.storage.FileSystemStorage"},
    "staticfiles": {"BACKEND": "django.contrib.staticfiles.storage.StaticFilesStorage"},
}

LOGIN_URL = "admin:login"
# django-axes first: it refuses a locked-out (username, address) before the password is even checked.
AUTHENTICATION_BACKENDS = ["axes.backends.AxesStandaloneBackend", "django.contrib.auth.backends.ModelBackend"]

# --- shared cache: API rate limits (and anything else cached) --------------------------------------------------
# Every process must count against the same limits: Redis (CACHE_URL=redis://…) across nodes; unset, files under
# var/ that every process of this machine shares. Not the database cache: a throttle check must still answer when
# the database is out of connections.
CACHES = {
    "default": env.cache("CACHE_URL", default=None)
    or {
        "BACKEND": "django.core.cache.backends.filebased.FileBasedCache",
        "LOCATION": str(VAR_DIR / "cache"),
        # Each write lists the directory and, past MAX_ENTRIES, deletes a random third of the files: a small bound
        # keeps that listing to a millisecond or two as expired windows (a file per caller and minute) pile up.
        "OPTIONS": {"MAX_ENTRIES": 1000},
    }
}

# --- admin login lockout (django-axes) --------------------------------------------------------------------------
# A (username, client address) pair is locked after AXES_FAILURE_LIMIT wrong passwords for the cool-off; a
# successful login resets its count. Other users, and the same user from elsewhere, can still log in.
AXES_FAILURE_LIMIT = env.int("PITBOSS_ADMIN_LOGIN_FAILURES", default=5)
AXES_COOLOFF_TIME = dt.timedelta(minutes=env.int("PITBOSS_ADMIN_LOCKOUT_MINUTES", default=15))
AXES_LOCKOUT_PARAMETERS = [["username", "ip_address"]]
AXES_RESET_ON_SUCCESS = True
# Not in the admin: its models would be the admin's only ones checked with Django's model permissions (two more
# queries on every page for staff). `manage.py axes_list_attempts` and `axes_reset*` are the tools.
AXES_ENABLE_ADMIN = False
AXES_LOCKOUT_CALLABLE = "backoffice.admin.lockout.lockout_response"
# The same client address as the API's rate limits (REMOTE_ADDR, or behind PITBOSS_NUM_PROXIES trusted proxies).
AXES_CLIENT_IP_CALLABLE = "backoffice.api.throttling.client_address"

# --- Content-Security-Policy (django-csp) -----------------------------------------------------------------------
# The strictest policy under which the admin (django-unfold) and Swagger UI work: scripts only from this site or
# with the response's nonce; 'unsafe-eval' because unfold's Alpine.js compiles its x-* attributes with
# Function(); inline style attributes, which unfold's templates and widgets use throughout.
CONTENT_SECURITY_POLICY = {
    "DIRECTIVES": {
        "default-src": [NONE],
        "script-src": [SELF, UNSAFE_EVAL, NONCE],
        "style-src": [SELF, UNSAFE_INLINE],
        "img-src": [SELF, "data:"],
        "font-src": [SELF],
        "connect-src": [SELF],
        "form-action": [SELF],
        "frame-ancestors": [NONE],
        "base-uri": [NONE],
        "object-src": [NONE],
    },
}
# A batch of 1,000 events with large payloads is a few MB; anything larger is refused before it is read.
DATA_UPLOAD_MAX_MEMORY_SIZE = env.int("PITBOSS_MAX_REQUEST_BYTES", default=16 * 1024 * 1024)

# --- PII encryption ---------------------------------------------------------------------------------------------
# Fernet keys, newest first: values are written with the first and read with any (rotation without downtime).
FIELD_ENCRYPTION_KEYS = env.list("FIELD_ENCRYPTION_KEYS")
# Key of the HMAC that makes the searchable lookup digest of an encrypted value (email, phone).
FIELD_LOOKUP_KEY = env.str("FIELD_LOOKUP_KEY")

# --- Celery -----------------------------------------------------------------------------------------------------
_broker_url = env.str("CELERY_BROKER_URL", default=None)
if _broker_url:
    CELERY_BROKER_URL = _broker_url
    CELERY_BROKER_TRANSPORT_OPTIONS: dict = {}
else:
    _broker_dir = VAR_DIR / "broker"
    (_broker_dir / "queue").mkdir(parents=True, exist_ok=True)
    # The host is ignored; naming one keeps kombu from warning on every connection (each /healthz).
    CELERY_BROKER_URL = "filesystem://localhost//"
    CELERY_BROKER_TRANSPORT_OPTIONS = {
        "data_folder_in": str(_broker_dir / "queue"),
        "data_folder_out": str(_broker_dir / "queue"),
        "store_processed": False,
        # exchange tables (which queue a message goes to); kombu's default is ./control in the working directory
        "control_folder": str(_broker_dir / "control"),
    }
CELERY_TASK_IGNORE_RESULT = True
CELERY_TASK_ACKS_LATE = True
CELERY_TASK_REJECT_ON_WORKER_LOST = True
CELERY_WORKER_PREFETCH_MULTIPLIER = 1
CELERY_TASK_SERIALIZER = "json"
CELERY_ACCEPT_CONTENT = ["json"]
CELERY_TIMEZONE = "UTC"
CELERY_TASK_DEFAULT_QUEUE = "default"
CELERY_BEAT_SCHEDULER = "django_celery_beat.schedulers:DatabaseScheduler"
CELERY_BROKER_CONNECTION_RETRY_ON_STARTUP = True
CELERY_BROKER_CONNECTION_TIMEOUT = 2
# One queue per concern, so a slow provider never starves the rest (README: deploying past one machine).
CELERY_TASK_ROUTES = {
    "crm.pipeline_sweep": {"queue": "process"},
    "integrations.sync_*": {"queue": "sync"},
    "crm.rules_webhook_deliver": {"queue": "deliver"},
    "crm.rules_webhooks_sweep": {"queue": "deliver"},
    "crm.rules_schedule_tick": {"queue": "process"},
    "crm.rules_run_execute": {"queue": "process"},
    "crm.rules_backtest": {"queue": "process"},
    "crm.bonus_templates_sync": {"queue": "sync"},
    "crm.bonus*": {"queue": "bonus"},
}
# Ingest needs no queue: the API and the stream consumer store events in their own processes, and the pipeline's
# workers (`manage.py pipeline_work`) read them from the log. The sweeper is their fallback.
CELERY_BEAT_SCHEDULE = {
    "pipeline-sweep": {"task": "crm.pipeline_sweep", "schedule": 10.0, "options": {"expires": 9}},
    "poll-replica-views": {"task": "integrations.sync_poll", "schedule": 10.0, "options": {"expires": 9}},
    "missions-expire": {"task": "gamification.missions_expire", "schedule": 60.0, "options": {"expires": 55}},
    "tournaments-tick": {"task": "gamification.tournaments_tick", "schedule": 10.0, "options": {"expires": 9}},
    "rollup-backfills-resume": {"task": "crm.rollup_backfills_resume", "schedule": 60.0, "options": {"expires": 55}},
    "rules-schedule": {"task": "crm.rules_schedule_tick", "schedule": 60.0, "options": {"expires": 55}},
    "rules-webhooks-sweep": {"task": "crm.rules_webhooks_sweep", "schedule": 60.0, "options": {"expires": 55}},
    # Segments' time-driven changes (relative dates, gamification state): entered / left events within 5 minutes.
    "segments-refresh": {"task": "crm.segments_refresh", "schedule": 300.0, "options": {"expires": 290}},
    "bonuses-sweep": {"task": "crm.bonuses_sweep", "schedule": 15.0, "options": {"expires": 14}},
    "bonuses-expire": {"task": "crm.bonuses_expire", "schedule": 300.0, "options": {"expires": 290}},
    "bonus-templates-sync": {"task": "crm.bonus_templates_sync", "schedule": 86400.0, "options": {"expires": 3600}},
    # Conversions whose player arrived after the pixel: linked and attributed within a minute (docs/affiliates.md).
    "affiliate-conversions-link": {
        "task": "crm.affiliate_conversions_link",
        "schedule": 60.0,
        "options": {"expires": 55},
    },
    # Conversions of known players into the event log (affiliate_conversion events) within about 5 seconds.
    "affiliate-conversions-log": {
        "task": "crm.affiliate_conversions_log",
        "schedule": 5.0,
        "options": {"expires": 5},
    },
}
# --- bonuses (crm.services.bonus_delivery) ----------------------------------------------------------------------------
# Transient failures (5xx, 429, no connection) are retried with exponential backoff from the base, capped, for the
# window; then the bonus is "issue failed". A claim older than the stale time (its worker died) is looked up again.
PITBOSS_BONUS_RETRY_BASE_SECONDS = env.float("PITBOSS_BONUS_RETRY_BASE_SECONDS", default=5.0)
PITBOSS_BONUS_RETRY_MAX_SECONDS = env.float("PITBOSS_BONUS_RETRY_MAX_SECONDS", default=600.0)
PITBOSS_BONUS_RETRY_WINDOW_SECONDS = env.int("PITBOSS_BONUS_RETRY_WINDOW_SECONDS", default=3600)
PITBOSS_BONUS_STALE_SECONDS = env.int("PITBOSS_BONUS_STALE_SECONDS", default=240)
# The queue bonus calls are sent to (a slow operator never holds up other work); tests use a queue of their own.
PITBOSS_BONUS_QUEUE = env.str("PITBOSS_BONUS_QUEUE", default="bonus")
# --- rule webhooks (crm.automation.webhooks) -------------------------------------------------------------------------
# A delivery claimed longer ago than this (its worker died mid-call) is sent again by the sweeper; above the call's
# own timeout (15 s), so a slow receiver is never called twice by the sweeper while the first call is still running.
PITBOSS_WEBHOOK_CLAIM_SECONDS = env.int("PITBOSS_WEBHOOK_CLAIM_SECONDS", default=120)
PITBOSS_WEBHOOK_QUEUE = env.str("PITBOSS_WEBHOOK_QUEUE", default="deliver")
# The built-in sandbox operator under /sandbox/ (Bonus API, replica): for the demo and the tests, never in production.
PITBOSS_SANDBOX = env.bool("PITBOSS_SANDBOX", default=True)
# The sandbox's replica database; unset: Pitboss's own server and login, database "<pitboss database>_sandbox".
PITBOSS_SANDBOX_REPLICA_URL = env.str("PITBOSS_SANDBOX_REPLICA_URL", default="")
# What the live generator (`manage.py sandbox_generate`) writes: actions (a registration, a deposit, a casino
# round...) per minute on average.
PITBOSS_SANDBOX_RATE = env.int("PITBOSS_SANDBOX_RATE", default=120)
# --- event pipeline (crm.pipeline) ----------------------------------------------------------------------------------
# Events per page at most (one transaction of a group in one partition): per-batch costs are shared by more events.
PITBOSS_PIPELINE_PAGE = env.int("PITBOSS_PIPELINE_PAGE", default=2000)
# A tick at most this often while events come in (workers also wake on ingest's notification, so this bounds how long
# a committed event waits to be seen); one every PITBOSS_PIPELINE_IDLE_TICK_SECONDS when idle.
PITBOSS_PIPELINE_TICK_MS = env.int("PITBOSS_PIPELINE_TICK_MS", default=20)
PITBOSS_PIPELINE_IDLE_TICK_SECONDS = env.int("PITBOSS_PIPELINE_IDLE_TICK_SECONDS", default=10)
# A worker's hold on a partition; a dead worker's partitions are taken over after this long.
PITBOSS_PIPELINE_LEASE_SECONDS = env.int("PITBOSS_PIPELINE_LEASE_SECONDS", default=15)
# /healthz fails when a group's oldest unapplied event is older than this.
PITBOSS_PIPELINE_MAX_LAG_SECONDS = env.int("PITBOSS_PIPELINE_MAX_LAG_SECONDS", default=300)

# --- conversion pixel (docs/affiliates.md) -------------------------------------------------------------------------
# On (default): a 202 waits for the conversion's WAL flush, so not even a crash of PostgreSQL loses it. Off: the pixel
# answers before the flush (PostgreSQL's synchronous_commit=off for that statement only): far fewer waits on the disk,
# but a crash of the database server (not of Pitboss or the broker) can lose the last ~0.6 s of accepted conversions.
PITBOSS_PIXEL_SYNCHRONOUS_COMMIT = env.bool("PITBOSS_PIXEL_SYNCHRONOUS_COMMIT", default=True)

# --- REST API ---------------------------------------------------------------------------------------------------
# The SmartKarrot-compatible API supports CORS (reference/smartkarrot-api.txt) and the conversion pixel is fired from
# players' browsers: any origin may call those paths, without cookies (they authenticate by key or by click id).
CORS_URLS_REGEX = r"^/(v4|dashboards/v4|convert)/"
CORS_ALLOW_ALL_ORIGINS = True
CORS_ALLOW_CREDENTIALS = False

REST_FRAMEWORK = {
    "DEFAULT_AUTHENTICATION_CLASSES": [
        "backoffice.api.authentication.ApiKeyAuthentication",
        "backoffice.api.authentication.StaffSessionAuthentication",
    ],
    "DEFAULT_PERMISSION_CLASSES": ["backoffice.api.permissions.IsActor"],
    "DEFAULT_FILTER_BACKENDS": ["django_filters.rest_framework.DjangoFilterBackend"],
    "DEFAULT_PAGINATION_CLASS": "backoffice.api.pagination.CursorPagination",
    "DEFAULT_SCHEMA_CLASS": "backoffice.api.schema.AutoSchema",
    "EXCEPTION_HANDLER": "backoffice.api.exceptions.exception_handler",
    "DEFAULT_RENDERER_CLASSES": ["rest_framework.renderers.JSONRenderer"],
    "DEFAULT_PARSER_CLASSES": ["rest_framework.parsers.JSONParser"],
    "PAGE_SIZE": 100,
    "UNAUTHENTICATED_USER": None,
    # Counted in the shared cache (backoffice/api/throttling.py); 429 with Retry-After past a limit. Failed
    # authentications are counted per address before any key is looked up (backoffice/api/authentication.py).
    "DEFAULT_THROTTLE_CLASSES": [
        "backoffice.api.throttling.AddressRateThrottle",
        "backoffice.api.throttling.ApiKeyRateThrottle",
    ],
    "DEFAULT_THROTTLE_RATES": {
        "api_key": env.rate("PITBOSS_RATE_PER_KEY", default="6000/minute"),
        "address": env.rate("PITBOSS_RATE_PER_ADDRESS", default="12000/minute"),
        "failed_auth": env.rate("PITBOSS_RATE_FAILED_AUTH", default="30/minute"),
    },
    # Trusted proxies in front of the app: the client address is the one the outermost of them saw in
    # X-Forwarded-For. 0 (default): REMOTE_ADDR, and X-Forwarded-For is ignored (anyone could write it).
    "NUM_PROXIES": env.int("PITBOSS_NUM_PROXIES", default=0),
}
SPECTACULAR_SETTINGS = {
    "TITLE": "Pitboss partner API",
    "DESCRIPTION": (
        "The partner API of Pitboss. Authenticate with `Authorization: Api-Key <key>` "
        "or HTTP Basic with user `apikey` and the key as password. A key acts only inside its label. "
        'Every error has one shape: `{"code": ..., "message": ..., "errors": {field: [messages]}}`.'
    ),
    "VERSION": "1.0.0",
    "SERVE_INCLUDE_SCHEMA": False,
    "SWAGGER_UI_DIST": "SIDECAR",
    "SWAGGER_UI_FAVICON_HREF": "SIDECAR",
    "REDOC_DIST": "SIDECAR",
    "COMPONENT_SPLIT_REQUEST": True,
    "SCHEMA_PATH_PREFIX": r"/api/v1",
    "SERVE_PERMISSIONS": ["rest_framework.permissions.AllowAny"],
    "SERVE_AUTHENTICATION": [],
    # The SmartKarrot-compatible envelope's `status` (SUCCESS, ERROR, INVALID_INPUT), apart from other `status` enums.
    "ENUM_NAME_OVERRIDES": {
        "EnvelopeStatusEnum": "integrations.smartkarrot.envelope.Status",
        "ActiveInactiveEnum": "crm.models.accounts.CustomerAccountStatus",  # customer accounts and usage users
        "OrderStatusEnum": "crm.models.financial.OrderStatus",
    },
}

# --- logging: key=value lines, no PII ---------------------------------------------------------------------------
LOG_LEVEL = env.str("LOG_LEVEL", default="INFO")
LOG_FORMAT = env.str("LOG_FORMAT", default="logfmt")  # logfmt | json
from backoffice.logging import configure_logging  # noqa: E402

LOGGING = configure_logging(level=LOG_LEVEL, fmt=LOG_FORMAT)
DJANGO_STRUCTLOG_CELERY_ENABLED = True
# The request log's `ip` is bound by backoffice/request_log.py: the address the rate limits and Axes use, not ipware's.
DJANGO_STRUCTLOG_IP_LOGGING_ENABLED = False

from backoffice.settings.unfold import UNFOLD  # noqa: E402, F401
