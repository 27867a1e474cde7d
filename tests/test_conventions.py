"""House rules that hold across the apps, checked on the source: public services and selectors take keyword-only
arguments (ARCHITECTURE.md, STYLE.md), so that a call names what it passes and a new argument never shifts others."""

from __future__ import annotations

import ast
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent
APPS = ("backoffice", "crm", "gamification", "integrations")
LAYERS = ("services/*.py", "*/services.py", "selectors.py", "selectors/*.py")

# Public functions still taking positional arguments, each to be made keyword-only by its module's next change. The
# list may only shrink: a function missing from it fails the test.
PENDING = {
    "gamification/selectors/leaderboard.py:score_bucket",
    "gamification/selectors/leaderboard.py:score_bucket_end",
    "gamification/selectors/tournaments.py:player_may_compete",
    "gamification/selectors/tournaments.py:score_currency",
    "gamification/selectors/tournaments.py:score_is_money",
    "gamification/services/tournament_finalize.py:instance_lock_key",
    "gamification/services/tournament_registration.py:registered_fact",
    "gamification/services/tournament_registration.py:registered_facts",
    "gamification/services/tournament_registration.py:registered_payload",
    "gamification/services/tournaments.py:tournament_starts",
    "gamification/services/wallet.py:earning_withheld_because",
}


def _positional(path: Path) -> list[str]:
    """The public top-level functions of `path` that accept an argument by position."""
    tree = ast.parse(path.read_text(encoding="utf-8"))
    found = []
    for node in tree.body:
        public = isinstance(node, ast.FunctionDef | ast.AsyncFunctionDef) and not node.name.startswith("_")
        if public and (node.args.posonlyargs or node.args.args or node.args.vararg):
            found.append(f"{path.relative_to(ROOT).as_posix()}:{node.name}")
    return found


def _modules() -> list[Path]:
    return sorted(path for app in APPS for layer in LAYERS for path in (ROOT / app).glob(layer))


def test_the_layers_are_found():
    names = {path.relative_to(ROOT).as_posix() for path in _modules()}
    assert {
        "crm/selectors.py",
        "gamification/services/wallet.py",
        "backoffice/services/apikeys.py",
        "integrations/replica/services.py",
    } <= names


def test_public_services_and_selectors_take_keyword_only_arguments():
    offenders = {name for path in _modules() for name in _positional(path)}
    assert sorted(offenders - PENDING) == []
