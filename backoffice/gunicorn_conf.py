"""gunicorn's configuration for the production process model: `gunicorn -c python:backoffice.gunicorn_conf
backoffice.wsgi` (Procfile). Command-line options still win over these values.

gunicorn's own lines (master and workers; the access log if an operator turns it on with `--access-logfile`) go through
the same structured formatter as Django's and Celery's, so they are key=value (or JSON) lines and every query string in
them is redacted (`backoffice.logging.redact_queries`).
"""

from __future__ import annotations

import os

from gunicorn.glogging import Logger

from backoffice.env import env
from backoffice.logging import structured_formatter

# The access line never carries the raw request line (%(r)s), the query (%(q)s) or the referer (%(f)s): any of them
# may hold a player's email or phone. %(U)s is the path alone.
access_log_format = '%(h)s "%(m)s %(U)s %(H)s" %(s)s %(B)s %(M)sms'
loglevel = env.str("LOG_LEVEL", default="INFO").lower()
# gunicorn 27's control socket (for `gunicornc`) defaults to one path per user, ~/.gunicorn/gunicorn.ctl, which every
# gunicorn of a host would share; nothing of Pitboss uses it.
control_socket_disable = True
# Each worker proves it is alive by touching a file at every turn of its loop. On a disk-backed /tmp (a container's
# overlay file system) that touch can wait behind the file system's journal and stall the worker (gunicorn's docs,
# "Blocking os.fchmod"): the file goes to memory where the host has /dev/shm.
_SHM = "/dev/shm"  # noqa: S108 - gunicorn makes its file there with mkstemp (private, random name), as it would in /tmp
worker_tmp_dir = _SHM if os.path.isdir(_SHM) else None


class StructuredLogger(Logger):
    """gunicorn's logger, its handlers (stderr, `--error-logfile`, `--access-logfile`) formatted by structlog."""

    def setup(self, cfg) -> None:
        super().setup(cfg)
        formatter = structured_formatter(env.str("LOG_FORMAT", default="logfmt"))
        for log in (self.error_log, self.access_log):
            for handler in log.handlers:
                handler.setFormatter(formatter)


logger_class = StructuredLogger
