"""Rate limits of the API, counted in the shared cache (`CACHES["default"]`), so every process of a node, and every
node when `CACHE_URL` points at Redis, counts against the same limit.

Counters are fixed windows (one `incr` per request) rather than DRF's sliding log, which rewrites a list of every
timestamp on each call: at thousands of requests a minute per key that list would cost more than the request.
A cache that cannot be reached lets requests through (and logs it): the limits protect the service, they must not
take it down.
"""

from __future__ import annotations

import abc
import math
import time

import structlog
from django.core.cache import cache
from rest_framework.exceptions import Throttled
from rest_framework.settings import api_settings
from rest_framework.throttling import BaseThrottle

log = structlog.get_logger(__name__)
_PERIODS = {"s": 1, "m": 60, "h": 3600, "d": 86400}


def client_address(request) -> str:
    """The caller's address: REMOTE_ADDR, or the address the last of NUM_PROXIES trusted proxies saw."""
    return BaseThrottle().get_ident(request)


def _rate(scope: str) -> tuple[int, int]:
    """(requests, seconds) of a scope, read per call so that `override_settings` in tests applies."""
    count, _, period = api_settings.DEFAULT_THROTTLE_RATES[scope].partition("/")
    return int(count), _PERIODS[period[0]]


def _window(scope: str, ident: str) -> tuple[str, int, int]:
    """The cache key of the current window, the scope's limit, and the whole seconds until the window ends."""
    limit, period = _rate(scope)
    now = time.time()
    window = int(now // period)
    return f"throttle:{scope}:{ident}:{window}", limit, max(1, math.ceil((window + 1) * period - now))


def _count(key: str, timeout: int) -> int:
    """Adds one to the window's counter and returns it (atomic on Redis; nearly so on the file cache)."""
    cache.add(key, 0, timeout=timeout + 1)
    try:
        return cache.incr(key)
    except ValueError:  # the window expired between add and incr
        cache.set(key, 1, timeout=timeout + 1)
        return 1


def _cached(scope: str, read, *args, unavailable: int = 0) -> int:
    """`read(*args)`, or `unavailable` when the cache cannot be reached (see the module docstring)."""
    try:
        return read(*args)
    except Exception as exc:  # any backend's connection error: Redis, files, memcached...
        log.warning("throttle_cache_unavailable", scope=scope, error=type(exc).__name__)
        return unavailable


class _WindowThrottle(BaseThrottle, abc.ABC):
    """A fixed-window limit of `scope`, counted per `ident` (None: the request is not counted by this throttle)."""

    scope = ""

    @abc.abstractmethod
    def ident(self, request) -> str | None: ...

    def allow_request(self, request, view) -> bool:
        ident = self.ident(request)
        if ident is None:
            return True
        key, limit, self._wait = _window(self.scope, ident)
        return _cached(self.scope, _count, key, self._wait) <= limit

    def wait(self) -> int:
        return self._wait


class ApiKeyRateThrottle(_WindowThrottle):
    """Requests per partner key: one busy key never uses up another's share, even in the same label."""

    scope = "api_key"

    def ident(self, request) -> str | None:
        api_key = getattr(request.user, "api_key", None)
        return None if api_key is None else str(api_key.pk)


class AddressRateThrottle(_WindowThrottle):
    """Requests per client address, whoever the caller is."""

    scope = "address"

    def ident(self, request) -> str | None:
        return client_address(request)


def failed_auth_check(request) -> None:
    """Refuses (429) an address past its limit of failed authentications, reading only the cache.

    Called before a key is looked up, so a flood of wrong keys costs no database query once it is over the limit.
    """
    key, limit, wait = _window("failed_auth", client_address(request))
    if _cached("failed_auth", cache.get, key, 0) >= limit:
        raise Throttled(wait=wait, detail="Too many failed authentications from your address.")  # DRF adds the wait


def failed_auth_record(request) -> None:
    key, _, wait = _window("failed_auth", client_address(request))
    _cached("failed_auth", _count, key, wait)
