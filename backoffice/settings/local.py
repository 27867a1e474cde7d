"""Local development: `make run`. Works with no environment at all."""

import os

# Development-only defaults, set before base reads them; a real environment value always wins.
os.environ.setdefault("DJANGO_SECRET_KEY", "dev-only-secret-key-not-for-production-0123456789abcdef")
os.environ.setdefault("DJANGO_DEBUG", "true")
os.environ.setdefault("FIELD_ENCRYPTION_KEYS", "ZGV2LW9ubHktZmVybmV0LWtleS0wMTIzNDU2Nzg5YWI=")
os.environ.setdefault("FIELD_LOOKUP_KEY", "dev-only-lookup-key")

from backoffice.settings.base import *  # noqa: F403
