"""The one way settings read the environment.

Every value comes through `env`, which fails at start with a message naming the variable when a required value is
missing or a value cannot be parsed. Nothing else in the code reads `os.environ`.
"""

from __future__ import annotations

import os
import re
from pathlib import Path
from typing import Any

import environ
from django.core.exceptions import ImproperlyConfigured

BASE_DIR = Path(__file__).resolve().parent.parent
_MISSING = object()
_reader = environ.Env()


def _read(cast_name: str, name: str, default: Any) -> Any:
    raw = os.environ.get(name)
    if raw is None or raw == "":
        if default is _MISSING:
            raise ImproperlyConfigured(f"Environment variable {name} is required but not set (see .env.example).")
        return default
    try:
        return getattr(_reader, cast_name)(name)
    except (ValueError, TypeError, KeyError, ImproperlyConfigured) as exc:
        raise ImproperlyConfigured(f"Environment variable {name}={raw!r} is not a valid {cast_name}: {exc}") from exc


class _Env:
    """Typed readers: `env.str("NAME")` is required, `env.str("NAME", default=None)` is optional."""

    def str(self, name: str, default: Any = _MISSING) -> Any:
        return _read("str", name, default)

    def bool(self, name: str, default: Any = _MISSING) -> Any:
        raw = os.environ.get(name)
        if raw and raw.strip().lower() not in {"1", "0", "true", "false", "yes", "no", "on", "off"}:
            raise ImproperlyConfigured(f"Environment variable {name}={raw!r} is not a boolean (use true or false).")
        return _read("bool", name, default)

    def int(self, name: str, default: Any = _MISSING) -> Any:
        return _read("int", name, default)

    def float(self, name: str, default: Any = _MISSING) -> Any:
        return _read("float", name, default)

    def list(self, name: str, default: Any = _MISSING) -> Any:
        return _read("list", name, default)

    def db(self, name: str, default: Any = _MISSING) -> Any:
        value = _read("db_url", name, default)
        if isinstance(value, dict) and value and "postgresql" not in value.get("ENGINE", ""):
            raise ImproperlyConfigured(f"Environment variable {name} must be a PostgreSQL URL (postgres://...).")
        return value

    def cache(self, name: str, default: Any = _MISSING) -> Any:
        """A CACHES entry from a URL: redis://host:6379/1, filecache:///path, locmemcache://..."""
        return _read("cache_url", name, default)

    def rate(self, name: str, default: Any = _MISSING) -> Any:
        """A rate such as `6000/minute` (per second, minute, hour or day), as DRF's throttles read it."""
        value = _read("str", name, default)
        if value is not None and not _RATE.fullmatch(value):
            raise ImproperlyConfigured(
                f"Environment variable {name}={value!r} is not a rate (use a number of requests per second, minute, "
                "hour or day, e.g. 6000/minute)."
            )
        return value


_RATE = re.compile(r"[1-9][0-9]*/(second|minute|hour|day)")
env = _Env()
