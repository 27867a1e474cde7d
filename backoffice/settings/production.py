"""Production: every secret from the environment, HTTPS only, static files through whitenoise."""

from backoffice.env import env

# Required here, before base reads them: unset, base would start an embedded PostgreSQL and a filesystem broker on each
# node, which hold nothing in common.
env.db("DATABASE_URL")
env.str("CELERY_BROKER_URL")
# Unset, each node would count API rate limits in its own files: N nodes, N times the limit.
env.cache("CACHE_URL")

from backoffice.settings.base import *  # noqa: E402, F403

DEBUG = False
# The sandbox operator (/sandbox/) answers bonus calls as if it were an operator: never on a real deployment.
PITBOSS_SANDBOX = False
SECURE_PROXY_SSL_HEADER = ("HTTP_X_FORWARDED_PROTO", "https")
SECURE_SSL_REDIRECT = env.bool("DJANGO_SECURE_SSL_REDIRECT", default=True)
# Load balancers probe nodes over plain HTTP: a redirect would read as "down".
SECURE_REDIRECT_EXEMPT = [r"^healthz$"]
SECURE_HSTS_SECONDS = env.int("DJANGO_SECURE_HSTS_SECONDS", default=31536000)
SECURE_HSTS_INCLUDE_SUBDOMAINS = True
SECURE_HSTS_PRELOAD = True
SECURE_CONTENT_TYPE_NOSNIFF = True
SESSION_COOKIE_SECURE = True
CSRF_COOKIE_SECURE = True
SESSION_COOKIE_HTTPONLY = True
X_FRAME_OPTIONS = "DENY"
SECURE_REFERRER_POLICY = "same-origin"
STORAGES["staticfiles"] = {"BACKEND": "whitenoise.storage.CompressedManifestStaticFilesStorage"}  # noqa: F405
