"""The test suite: fast password hashing, everything else as in base."""

import os

os.environ.setdefault("DJANGO_SECRET_KEY", "test-secret-key-0123456789abcdef0123456789abcdef")
os.environ.setdefault("FIELD_ENCRYPTION_KEYS", "dGVzdC1vbmx5LWZlcm5ldC1rZXktMDEyMzQ1Njc4OWE=")
os.environ.setdefault("FIELD_LOOKUP_KEY", "test-lookup-key")

from backoffice.settings.base import *  # noqa: F403

PASSWORD_HASHERS = ["django.contrib.auth.hashers.MD5PasswordHasher"]
DATABASES["default"]["CONN_MAX_AGE"] = 0  # noqa: F405
# Lets several test runs share one server without sharing a test database.
_test_db_name = env.str("PITBOSS_TEST_DB_NAME", default=None)  # noqa: F405
if _test_db_name:
    DATABASES["default"]["TEST"] = {"NAME": _test_db_name}  # noqa: F405
