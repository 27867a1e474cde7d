"""Real local processes for the bench and the stack tests: a private redis-server, gunicorn and a Celery worker, all on
loopback, each started in its own process group and stopped by its id. Every wait is bounded in time."""

from __future__ import annotations

import contextlib
import http.client
import os
import signal
import socket
import subprocess
import sys
import time
from collections.abc import Callable
from pathlib import Path
from urllib.parse import quote, urlencode

BASE_DIR = Path(__file__).resolve().parent.parent
LOOPBACK = "127.0.0.1"


def free_port() -> int:
    """A TCP port free on loopback now (another process may still take it before it is used)."""
    with socket.create_server((LOOPBACK, 0)) as sock:
        return sock.getsockname()[1]


def wait_until(check: Callable[[], bool], *, timeout: float, what: str, interval: float = 0.1) -> None:
    deadline = time.monotonic() + timeout
    while not check():
        if time.monotonic() > deadline:
            raise TimeoutError(f"{what}: not within {timeout:.0f} s")
        time.sleep(interval)


TICKS = os.sysconf("SC_CLK_TCK")  # the unit of /proc's CPU times


def proc_stat(pid: int | str) -> list[str] | None:
    """The fields of /proc/<pid>/stat after the command's name (Linux), so that `[0]` is the state, `[1]` the parent's
    pid, `[11]` and `[12]` the user and system CPU in ticks (`TICKS` a second); None if the process has ended."""
    try:
        return Path(f"/proc/{pid}/stat").read_text().rsplit(")", 1)[1].split()
    except (OSError, IndexError):
        return None


def parent_pid(pid: int) -> int | None:
    """The parent of process `pid` (Linux, /proc), or None if it has ended."""
    fields = proc_stat(pid)
    return int(fields[1]) if fields else None


def local_postmaster(backend_pid: int) -> int | None:
    """The PostgreSQL server process of a backend (`SELECT pg_backend_pid()`) when the server runs on this machine;
    None when it does not (a pid of another host's server may name an unrelated process here)."""
    try:
        command = Path(f"/proc/{backend_pid}/cmdline").read_bytes()
    except OSError:
        return None
    return parent_pid(backend_pid) if command.startswith(b"postgres") else None


def children_cpu(parent: int) -> float:
    """CPU seconds (user + system) spent so far by the running children of `parent` (Linux, /proc): for a PostgreSQL
    server, its backends and its own processes. A child that ends between two readings drops out of the second."""
    total = 0
    for entry in os.listdir("/proc"):
        fields = proc_stat(entry) if entry.isdigit() else None
        if fields and int(fields[1]) == parent:
            total += int(fields[11]) + int(fields[12])
    return total / TICKS


def database_url(db: dict) -> str:
    """A Django DATABASES entry as a DATABASE_URL, for processes that do not share this one's settings."""
    credentials = f"{quote(db['USER'] or '', safe='')}:{quote(db['PASSWORD'] or '', safe='')}"
    if (db["HOST"] or "").startswith("/"):  # the embedded server listens on a Unix socket only
        return f"postgres://{credentials}@/{db['NAME']}?{urlencode({'host': db['HOST']})}"
    port = f":{db['PORT']}" if db["PORT"] else ""
    return f"postgres://{credentials}@{db['HOST']}{port}/{db['NAME']}"


class Process:
    """A child in its own session: stopped with SIGTERM, then SIGKILL to its whole group."""

    def __init__(self, command: list[str], *, log: Path, env: dict[str, str] | None = None) -> None:
        self.command, self.log, self.env = command, log, env
        self.popen: subprocess.Popen | None = None

    def start(self) -> None:
        with self.log.open("a") as out:
            self.popen = subprocess.Popen(
                self.command, cwd=BASE_DIR, env=self.env, stdout=out, stderr=subprocess.STDOUT, start_new_session=True
            )

    @property
    def alive(self) -> bool:
        return self.popen is not None and self.popen.poll() is None

    def output(self, chars: int = 4000) -> str:
        return self.log.read_text(errors="replace")[-chars:] if self.log.exists() else ""

    def kill(self) -> None:
        """SIGKILL to the process and every child it forked: a crash, with no chance to clean up."""
        if self.alive:
            with contextlib.suppress(ProcessLookupError):
                os.killpg(self.popen.pid, signal.SIGKILL)
            self.popen.wait(timeout=10)

    def stop(self, grace: float = 15) -> None:
        if not self.alive:
            return
        self.popen.terminate()
        try:
            self.popen.wait(timeout=grace)
        except subprocess.TimeoutExpired:
            self.kill()
        with contextlib.suppress(ProcessLookupError):  # children left behind by a main process that did exit
            os.killpg(self.popen.pid, signal.SIGKILL)


class Redis(Process):
    """A private redis-server that keeps nothing on disk: stopping it loses what it held, as a crash would."""

    def __init__(self, workdir: Path, port: int | None = None) -> None:
        self.port = port or free_port()
        command = ["redis-server", "--port", str(self.port), "--bind", LOOPBACK, "--save", "", "--appendonly", "no"]
        super().__init__([*command, "--dir", str(workdir)], log=workdir / f"redis-{self.port}.log")

    @property
    def url(self) -> str:
        return f"redis://{LOOPBACK}:{self.port}/0"

    def client(self):
        import redis

        return redis.Redis(host=LOOPBACK, port=self.port, socket_timeout=5)

    def start(self, timeout: float = 20) -> None:
        super().start()
        wait_until(self._answers, timeout=timeout, what=f"redis-server on port {self.port}")

    def _answers(self) -> bool:
        if not self.alive:
            raise RuntimeError(f"redis-server exited:\n{self.output()}")
        try:
            return bool(self.client().ping())
        except Exception:
            return False


class Gunicorn(Process):
    """`gunicorn -c python:backoffice.gunicorn_conf backoffice.wsgi` (the Procfile's web process, its configuration
    included) on a loopback port, sync workers."""

    def __init__(self, env: dict[str, str], log: Path, workers: int = 2, port: int | None = None) -> None:
        self.port = port or free_port()
        command = [sys.executable, "-m", "gunicorn", "-c", "python:backoffice.gunicorn_conf", "backoffice.wsgi"]
        command += ["--bind", f"{LOOPBACK}:{self.port}"]
        command += ["--workers", str(workers), "--timeout", "60", "--graceful-timeout", "10"]
        super().__init__(command, log=log, env=env)

    def start(self, timeout: float = 60) -> None:
        super().start()
        wait_until(self._healthy, timeout=timeout, what=f"gunicorn on port {self.port}", interval=0.2)

    def _healthy(self) -> bool:
        if not self.alive:
            raise RuntimeError(f"gunicorn exited:\n{self.output()}")
        try:
            return request(self.port, "GET", "/healthz", timeout=5)[0] == 200
        except OSError:
            return False


class CeleryWorker(Process):
    """`celery -A backoffice worker -Q <queues>`; `start` returns once it consumes."""

    def __init__(self, env: dict[str, str], log: Path, queues: str, concurrency: int = 2, name: str = "w") -> None:
        self.name = f"{name}-{os.getpid()}@{LOOPBACK}"
        command = [sys.executable, "-m", "celery", "-A", "backoffice", "worker", "-Q", queues, "-n", self.name]
        command += ["--concurrency", str(concurrency), "--without-gossip", "--without-mingle", "--without-heartbeat"]
        super().__init__(command, log=log, env=env)
        self._ready_seen = 0

    def start(self, timeout: float = 60) -> None:
        self._ready_seen = self.output(10**9).count(" ready.")
        super().start()
        wait_until(self._ready, timeout=timeout, what="the celery worker", interval=0.1)

    def _ready(self) -> bool:
        if not self.alive:
            raise RuntimeError(f"the celery worker exited:\n{self.output()}")
        return self.output(10**9).count(" ready.") > self._ready_seen


class PipelineWorker(Process):
    """`manage.py pipeline_work [--group G]`; `start` returns once its threads run."""

    def __init__(self, env: dict[str, str], log: Path, groups: tuple[str, ...] = ()) -> None:
        command = [sys.executable, "manage.py", "pipeline_work"] + [a for g in groups for a in ("--group", g)]
        super().__init__(command, log=log, env=env)
        self._ready_seen = 0

    def start(self, timeout: float = 60) -> None:
        self._ready_seen = self.output(10**9).count("event=pipeline_started")
        super().start()
        wait_until(self._ready, timeout=timeout, what="the pipeline worker", interval=0.1)

    def _ready(self) -> bool:
        if not self.alive:
            raise RuntimeError(f"the pipeline worker exited:\n{self.output()}")
        return self.output(10**9).count("event=pipeline_started") > self._ready_seen


def request(
    port: int, method: str, path: str, body: bytes | None = None, headers: dict | None = None, timeout: float = 30
) -> tuple[int, bytes]:
    """One HTTP request to loopback; (status, body)."""
    conn = http.client.HTTPConnection(LOOPBACK, port, timeout=timeout)
    try:
        conn.request(method, path, body=body, headers=headers or {})
        response = conn.getresponse()
        return response.status, response.read()
    finally:
        conn.close()


def process_env(database_url: str, broker_url: str, settings: str, **extra: str) -> dict[str, str]:
    """The environment of a web or worker process: the database, the broker, the settings module."""
    env = {**os.environ, "DJANGO_SETTINGS_MODULE": settings, "DATABASE_URL": database_url}
    env |= {"CELERY_BROKER_URL": broker_url, "PYTHONUNBUFFERED": "1", **extra}
    return env
