"""The test suite: fast password hashing, everything else as in base."""

import os

os.environ.setdefault("DJANGO_SECRET_KEY", "test-secret-key-0123456789abcdef0123456789abcdef")
os.environ.setdefault("FIELD_ENCRYPTION_KEYS", "dGVzdC1vbmx5LWZlcm5ldC1rZXktMDEyMzQ1Njc4OWE=")
os.environ.setdefault("FIELD_LOOKUP_KEY", "test-lookup-key")

from backoffice.settings.base import *  # noqa: F403

PASSWORD_HASHERS = ["django.contrib.auth.hashers.MD5PasswordHasher"]
# No pool in the test process: its tests run one request at a time on one thread, so a pool would have nothing to
# share, and a plain connection is what Django's per-test transactions and the tests that build small pools of their
# own (tests/backoffice/test_pool.py) expect to start from. The real processes of tests/test_load.py (local and
# production settings) run with the pool.
DATABASES["default"]["OPTIONS"].pop("pool", None)  # noqa: F405
DATABASES["default"]["CONN_MAX_AGE"] = 0  # noqa: F405
# Lets several test runs share one server without sharing a test database.
_test_db_name = env.str("PITBOSS_TEST_DB_NAME", default=None)  # noqa: F405
if _test_db_name:
    DATABASES["default"]["TEST"] = {"NAME": _test_db_name}  # noqa: F405
