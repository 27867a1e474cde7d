"""Segments and rules against issue 11's speed targets, in one command.

`.venv/bin/python bench/segments.py [--players 1000000]` (or `make bench-segments`) runs the three benches of issue 11
one after the other, each in a process of its own with a database and a Redis of its own (created, migrated and
dropped by that bench), and prints, as its last line, one JSON object with every figure:

  players                    the players of the two segment benches
  state_count_ms             bench/segments_state.py: a four-condition user-state count through the condition engine
  state_sql_floor_ms           and the same question hand-written, interleaved in the same run (target: count
                               <= 1.5 x floor and < 1 s)
  membership_p95_ms            one player's membership of the segment, p95                     (target < 2 ms)
  behavioural_count_ms       bench/segments_behaviour.py: "at least 3 deposits in the last 30 days" through the engine
  behavioural_sql_floor_ms     and hand-written over the roll-ups it reads (the players' running totals),
                               interleaved                                                   (target: count < 1 s)
  behavioural_daily_floor_ms   and hand-written over the daily roll-ups (the floor before the running totals)
  membership_round_trip_p95_ms a bare SELECT 1 interleaved with the membership checks: the machine's floor
  rules_group_events_per_s   bench/rules.py: the automation group with 100 real-time rules
  rules_ceiling_events_per_s   a group writing only the same effects, interleaved              (target ratio >= 0.5)
  rule_effect_p95_ms           event accepted -> ledger entry at 500 events/s                  (target < 100 ms)
  backtest_1m_s                a backtest of one rule over 1,000,000 events                    (target < 10 s)

Each figure is compared only with its floor from the same process and minute; the host's speed drifts, so the
ratios are what to quote. Each bench explains its own method in its docstring.
"""

from __future__ import annotations

import argparse
import subprocess
import sys
from pathlib import Path

import orjson

ROOT = Path(__file__).resolve().parent.parent
KEYS = ["players", "state_count_ms", "state_sql_floor_ms", "behavioural_count_ms", "behavioural_sql_floor_ms",
        "membership_p95_ms", "rules_group_events_per_s", "rules_ceiling_events_per_s", "rule_effect_p95_ms",
        "backtest_1m_s",
        # beside the keys: the floors and machine floors that explain them
        "behavioural_daily_floor_ms", "behavioural_tree_ms", "behavioural_membership_p95_ms",
        "behavioural_round_trip_p95_ms", "membership_round_trip_p95_ms", "membership_unprepared_p95_ms"]  # fmt: skip


def run(script: str, *args: str) -> dict:
    """Run one bench, passing its output through; its last line is its JSON figures."""
    command = [sys.executable, str(ROOT / "bench" / script), *args]
    print(f"$ {' '.join(command[1:])}", flush=True)
    process = subprocess.Popen(command, cwd=ROOT, stdout=subprocess.PIPE, text=True)
    last = ""
    assert process.stdout is not None
    for line in process.stdout:
        print(line, end="", flush=True)
        if line.strip():
            last = line
    if process.wait() != 0:
        raise SystemExit(f"{script} failed with exit code {process.returncode}")
    return orjson.loads(last)


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--players", type=int, default=1_000_000, help="players of the segment benches")
    parser.add_argument("--backtest-events", type=int, default=1_000_000)
    args = parser.parse_args()
    players = str(args.players)
    results: dict = {"players": args.players}
    results |= run("segments_state.py", "--players", players)
    results |= run("segments_behaviour.py", "--players", players)
    results |= run("rules.py", "--backtest-events", str(args.backtest_events))
    checks = [
        ("state count <= 1.5 x floor", results["state_count_ms"] <= 1.5 * results["state_sql_floor_ms"]),
        ("state count < 1 s", results["state_count_ms"] < 1000),
        ("membership p95 < 2 ms", results["membership_p95_ms"] < 2),
        ("behavioural count < 1 s", results["behavioural_count_ms"] < 1000),
        ("rules / ceiling >= 0.5", results["rules_group_events_per_s"] >= 0.5 * results["rules_ceiling_events_per_s"]),
        ("rule effect p95 < 100 ms", results["rule_effect_p95_ms"] < 100),
        ("backtest of 1M events < 10 s", results["backtest_1m_s"] < 10),
    ]
    for name, met in checks:
        print(f"target {name}: {'met' if met else 'MISSED'}", flush=True)
    print(orjson.dumps({key: results[key] for key in KEYS if key in results}).decode(), flush=True)
    return 0


if __name__ == "__main__":
    sys.exit(main())
