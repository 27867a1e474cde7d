"""Structured logs: one `key=value` (or JSON) line per event, through structlog, for Django, Celery, gunicorn and our
code.

Never pass PII (email, phone, names) as a log field; log ids instead. Query strings are where PII arrives without
our code passing it (`/api/v1/players?email=…`, the admin's search `?q=…`): every line, whoever wrote it, goes
through `redact_queries`, which keeps the path and the parameter names and drops every value.
"""

from __future__ import annotations

import re

import structlog

REDACTED = "[redacted]"
# A query string: from `?` to the end of the URL (white space or a quote ends it in a request line or a log field).
_QUERY = re.compile(r"\?([^\s\"'<>]+)")
# A parameter name that cannot be an email or a phone (no `@`, no `%`, no `+`, starts with a letter): kept as it is.
_SAFE_NAME = re.compile(r"[A-Za-z_][A-Za-z0-9_.\-\[\]]{0,39}")

_SHARED = [
    structlog.contextvars.merge_contextvars,
    structlog.stdlib.add_logger_name,
    structlog.stdlib.add_log_level,
    structlog.processors.TimeStamper(fmt="iso", utc=True),
]


def redact_query(text: str) -> str:
    """`text` with the value of every query parameter replaced: `GET /p?email=a%40b.co&limit=2` gives
    `GET /p?email=[redacted]&limit=[redacted]`. A name that could itself carry PII is replaced whole."""
    if "?" not in text:
        return text
    return _QUERY.sub(_redact_match, text)


def _redact_match(match: re.Match) -> str:
    pairs = []
    for pair in re.split(r"[&;]", match.group(1)):
        name, equals, _value = pair.partition("=")
        if not pair:
            pairs.append("")
        elif not _SAFE_NAME.fullmatch(name):
            pairs.append(REDACTED)
        else:
            pairs.append(f"{name}={REDACTED}" if equals else name)
    return "?" + "&".join(pairs)


def redact_queries(logger, method_name: str, event_dict: dict) -> dict:
    """structlog processor: `redact_query` on every text field, the message and a formatted traceback included."""
    for key, value in event_dict.items():
        if isinstance(value, str) and "?" in value:
            event_dict[key] = redact_query(value)
    return event_dict


def structured_formatter(fmt: str = "logfmt") -> structlog.stdlib.ProcessorFormatter:
    """The one formatter of every handler: Django's and Celery's through LOGGING, gunicorn's through its config."""
    if fmt not in {"logfmt", "json"}:
        from django.core.exceptions import ImproperlyConfigured

        raise ImproperlyConfigured(f"LOG_FORMAT={fmt!r} is not one of: logfmt, json.")
    renderer = (
        structlog.processors.JSONRenderer()
        if fmt == "json"
        else structlog.processors.LogfmtRenderer(key_order=["timestamp", "level", "event", "logger"])
    )
    return structlog.stdlib.ProcessorFormatter(
        processors=[
            structlog.stdlib.ProcessorFormatter.remove_processors_meta,
            structlog.processors.format_exc_info,
            redact_queries,  # after format_exc_info: a traceback may quote a URL
            renderer,
        ],
        foreign_pre_chain=_SHARED,
    )


def configure_logging(*, level: str, fmt: str) -> dict:
    """Configure structlog and return the stdlib LOGGING dict that routes every logger through it."""
    structured_formatter(fmt)  # refuses a bad LOG_FORMAT at settings load, not at the first line logged
    structlog.configure(
        processors=[
            *_SHARED,
            structlog.stdlib.PositionalArgumentsFormatter(),
            structlog.processors.StackInfoRenderer(),
            structlog.processors.format_exc_info,
            structlog.stdlib.ProcessorFormatter.wrap_for_formatter,
        ],
        logger_factory=structlog.stdlib.LoggerFactory(),
        wrapper_class=structlog.stdlib.BoundLogger,
        cache_logger_on_first_use=True,
    )
    return {
        "version": 1,
        "disable_existing_loggers": False,
        "formatters": {"structured": {"()": structured_formatter, "fmt": fmt}},
        "handlers": {"console": {"class": "logging.StreamHandler", "formatter": "structured"}},
        "root": {"handlers": ["console"], "level": level},
        "loggers": {
            "django.db.backends": {"level": "INFO"},
            "pgserver": {"level": "WARNING"},
            # psycopg's pool logs every connection lent and returned at INFO; its warnings (broken connections) stay.
            "psycopg.pool": {"level": "WARNING"},
            # 4xx answers are logged once, by the request middleware; 5xx still reach django.request.
            "django.request": {"level": "ERROR"},
            # runserver's request lines: Django's default sends them to a handler of its own, which would print the
            # raw query string; here they go through the structured (redacting) formatter like every other line.
            "django.server": {"handlers": ["console"], "level": "INFO", "propagate": False},
            # One line per published task is noise on the ingest path; workers still log each task they run.
            "django_structlog.celery.receivers": {"level": "WARNING"},
            # httpx logs every request's full URL at INFO; integrations.http logs each call once, by route, no URL.
            "httpx": {"level": "WARNING"},
            "httpcore": {"level": "WARNING"},
        },
    }
