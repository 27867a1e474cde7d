"""Where the pixel's CPU goes, against the bare view's: CPU per request of every process taking part, per round.

`.venv/bin/python bench/pixel_cpu.py` sets up what bench/pixel.py does (its own database, a private Redis, gunicorn
with the production settings and the bare view, --clicks clicks), then saturates the bare view and the pixel in turn,
--rounds times, and reads each process's CPU (user and system, /proc/<pid>/stat, Linux only) before and after each
round. Per request, it prints:

  client         this process (the load generator's threads)
  gunicorn       the gunicorn master and workers (user + system), gunicorn_sys their system share
  pg:backend     the PostgreSQL backends serving this bench's database, pgb_sys their system share
  pg:<process>   PostgreSQL's own processes (walwriter, checkpointer, autovacuum...), where they used any

When both runs keep the cores busy (the bench's default load does on this 2-core host), `pixel_ratio` is the ratio of
these totals: what the pixel spends beyond the bare view is what there is to win. It measures no target; its findings
are in docs/affiliates.md ("Speed"). Nothing leaves loopback; every loop is bounded in count and time.
"""

from __future__ import annotations

import argparse
import os
import resource
import shutil
import sys
import tempfile
import time
from contextlib import ExitStack
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parent.parent))  # run as a script from anywhere

from bench.ingest import bench_site, log
from bench.pixel import SETTINGS, Paths, all_202, saturate, setup_clicks, web_started
from bench.procs import TICKS, parent_pid, proc_stat


def processes(postmaster: int) -> dict[int, tuple[str, float, float]]:
    """pid -> (kind, user + system seconds, system seconds) of gunicorn's processes and of the bench's PostgreSQL
    server (the children of `postmaster`: other servers on the host are left out)."""
    found: dict[int, tuple[str, float, float]] = {}
    for entry in os.listdir("/proc"):
        if not entry.isdigit():
            continue
        try:
            command = Path(f"/proc/{entry}/cmdline").read_bytes().replace(b"\0", b" ").decode(errors="replace")
        except OSError:  # the process ended meanwhile
            continue
        fields = proc_stat(entry)
        if fields is None:
            continue
        user, system = int(fields[11]) / TICKS, int(fields[12]) / TICKS
        if "gunicorn" in command:
            kind = "gunicorn"
        elif int(fields[1]) == postmaster:  # field 4 of stat, the parent's pid
            title = command.split(":", 1)[-1].strip()
            # A backend's title is "<user> <database> <client> <state>"; the server's own processes name themselves.
            kind = "pg:backend" if "pitboss_pixel_cpu" in title else f"pg:{title.split(' ')[0]}"
        else:
            continue
        found[int(entry)] = (kind, user + system, system)
    return found


def spent(before: dict, after: dict) -> dict[str, float]:
    """CPU seconds per kind between two readings (a process that started meanwhile counts from zero)."""
    totals: dict[str, float] = {}
    for pid, (kind, total, system) in after.items():
        _, total_before, system_before = before.get(pid, (kind, 0.0, 0.0))
        totals[kind] = totals.get(kind, 0.0) + total - total_before
        if kind in ("gunicorn", "pg:backend"):
            key = "gunicorn_sys" if kind == "gunicorn" else "pgb_sys"
            totals[key] = totals.get(key, 0.0) + system - system_before
    return totals


def own_cpu() -> float:
    usage = resource.getrusage(resource.RUSAGE_SELF)
    return usage.ru_utime + usage.ru_stime


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--clicks", type=int, default=20_000)
    parser.add_argument("--web-workers", type=int, default=min(8, 2 * (os.cpu_count() or 1) + 1), choices=range(1, 9))
    parser.add_argument("--clients", type=int, default=8, help="concurrent clients")
    parser.add_argument("--rounds", type=int, default=3, help="rounds, each the bare view then the pixel")
    parser.add_argument("--seconds", type=float, default=6.0, help="seconds per measurement")
    args = parser.parse_args()
    if not Path("/proc/self/stat").exists():
        log("this bench reads /proc: Linux only")
        return 2
    workdir = Path(tempfile.mkdtemp(prefix="pitboss-pixel-cpu-"))
    with ExitStack() as stack:
        stack.callback(shutil.rmtree, workdir, ignore_errors=True)
        site = bench_site(stack, workdir, "pitboss_pixel_cpu")
        paths = Paths(setup_clicks(args.clicks))
        web = web_started(stack, {**site.env, "DJANGO_SETTINGS_MODULE": SETTINGS}, workdir, args.web_workers, paths)
        from django.db import connection

        with connection.cursor() as cursor:
            cursor.execute("SELECT pg_backend_pid()")
            postmaster = parent_pid(cursor.fetchone()[0])
        for round_ in range(1, args.rounds + 1):
            rates = {}
            for name, make_path in (("bare", lambda: "/bench/bare"), ("pixel", paths.pixel)):
                before, client_before, started = processes(postmaster), own_cpu(), time.monotonic()
                rate, counts = saturate(web.port, make_path, args.clients, args.seconds)
                totals = spent(before, processes(postmaster))
                totals["client"] = own_cpu() - client_before
                calls = sum(counts.values())
                all_202(counts, name)
                whole = sum(v for k, v in totals.items() if not k.endswith("_sys"))
                cores = whole / (time.monotonic() - started)
                parts = ", ".join(f"{k} {v / calls * 1e6:,.0f}" for k, v in sorted(totals.items()) if v > 0.005)
                log(f"round {round_}, {name}: {rate:,.0f} requests/s, {whole / calls * 1e6:,.0f} µs of CPU a "
                    f"request on {cores:.1f} cores busy ({parts})")  # fmt: skip
                rates[name] = rate
            log(f"round {round_}: pixel / bare view {rates['pixel'] / rates['bare']:.3f}")
    return 0


if __name__ == "__main__":
    sys.exit(main())
