"""The one HTTP base of every operator integration (the healthchecks `transports.py` way): timeouts on every call,
and every failure sorted into what a caller does about it.

- `TransientError`: nothing was done, or it is safe to try again later with the same request (connection refused,
  connect timeout, 429, 5xx). Retry with backoff.
- `UnknownOutcome`: the request may have reached the provider and been acted on (read timeout, connection dropped
  after sending). Never send it under a new idempotency key: look it up, or re-send with the same key.
- `PermanentError`: the provider refused it (4xx); the same request will be refused again.

Logs are key=value with the provider, method, path template, status and duration; never a body, a query string or
a header (they can hold player ids and secrets).
"""

from __future__ import annotations

import time
from dataclasses import dataclass
from typing import Any

import httpx
import structlog

log = structlog.get_logger(__name__)

# Tests route requests to the in-process WSGI application (httpx.WSGITransport) instead of a socket; None in every
# running process. Timeouts cannot fire through it: timeouts are tested against a real server.
TRANSPORT: httpx.BaseTransport | None = None
MAX_BODY_CHARS = 20_000


class HttpError(Exception):
    """A failed call: `status` (None without an answer) and the answer's JSON body (or its text, cut short)."""

    def __init__(self, message: str, *, status: int | None = None, body: Any = None) -> None:
        super().__init__(message)
        self.message, self.status, self.body = message, status, body


class TransientError(HttpError):
    """Try again later with the same request."""


class UnknownOutcome(HttpError):
    """The request may have been acted on: look it up before anything else."""


class PermanentError(HttpError):
    """Refused; the same request will be refused again."""


@dataclass(frozen=True)
class Response:
    status: int
    body: Any  # parsed JSON, or {} for an empty body


class HttpClient:
    """A provider's HTTP client: base URL, auth headers and timeouts. Subclasses add one method per endpoint."""

    provider = "http"

    def __init__(
        self,
        *,
        base_url: str,
        headers: dict[str, str] | None = None,
        connect_timeout: float = 3.0,
        read_timeout: float = 10.0,
    ) -> None:
        self.base_url = base_url.rstrip("/")
        self.headers = {"Accept": "application/json", "User-Agent": "Pitboss", **(headers or {})}
        self.timeout = httpx.Timeout(read_timeout, connect=connect_timeout)

    def request(
        self, method: str, path: str, *, route: str, json: Any = None, headers: dict[str, str] | None = None
    ) -> Response:
        """One call; a 2xx `Response`, or one of the errors above. `route` names the endpoint in logs (no ids)."""
        started = time.monotonic()
        try:
            with httpx.Client(timeout=self.timeout, transport=TRANSPORT) as client:
                answer = client.request(
                    method, self.base_url + path, json=json, headers={**self.headers, **(headers or {})}
                )
        except (httpx.ConnectError, httpx.ConnectTimeout, httpx.PoolTimeout) as exc:
            self._log(method, route, None, started, error=type(exc).__name__)
            raise TransientError(f"Could not connect ({type(exc).__name__}).") from exc
        except (httpx.TimeoutException, httpx.RemoteProtocolError, httpx.NetworkError) as exc:
            # Sent, or partly sent, and no answer: the provider may have acted on it.
            self._log(method, route, None, started, error=type(exc).__name__)
            raise UnknownOutcome(f"No answer ({type(exc).__name__}).") from exc
        except httpx.HTTPError as exc:
            self._log(method, route, None, started, error=type(exc).__name__)
            raise PermanentError(f"Invalid request ({type(exc).__name__}).") from exc
        self._log(method, route, answer.status_code, started)
        return self._classify(answer)

    def _classify(self, answer: httpx.Response) -> Response:
        body = _body(answer)
        status = answer.status_code
        if 200 <= status < 300:
            return Response(status=status, body=body)
        message = f"HTTP {status}" + (f": {_message(body)}" if _message(body) else "")
        if status in (408, 425, 429) or status >= 500:
            raise TransientError(message, status=status, body=body)
        raise PermanentError(message, status=status, body=body)

    def _log(self, method: str, route: str, status: int | None, started: float, error: str = "") -> None:
        fields = {"provider": self.provider, "method": method, "route": route, "status": status}
        fields["duration_ms"] = round((time.monotonic() - started) * 1000)
        if error:
            log.warning("http_call_failed", **fields, error=error)
        else:
            log.info("http_call", **fields)


def _body(answer: httpx.Response) -> Any:
    if not answer.content:
        return {}
    try:
        return answer.json()
    except ValueError:
        return {"text": answer.text[:MAX_BODY_CHARS]}


def _message(body: Any) -> str:
    if isinstance(body, dict):
        return str(body.get("message") or body.get("code") or body.get("text") or "")[:500]
    return ""
