"""Fixtures that run a missions test on both of the handler's ways to one result: with a shortcut, and with the
shortcut's work done run by run. Both must write and show the same."""

from __future__ import annotations

import pytest

from gamification.handlers import mission_config
from gamification.handlers.mission_config import LabelMissions, missions_cache_clear


def _conf_altered(monkeypatch, alter) -> None:
    """Missions configurations load as usual, then `alter(conf)` turns a shortcut off."""
    load = mission_config._load

    def altered(label_id: int) -> LabelMissions:
        conf = load(label_id)
        alter(conf)
        return conf

    monkeypatch.setattr(mission_config, "_load", altered)


@pytest.fixture(params=["glance", "run by run"])
def both_paths(request, monkeypatch):
    """With the handler settling runs of one-task missions at a glance, and with each run checked one by one
    (`LabelMissions.solo` empty)."""
    if request.param == "run by run":
        _conf_altered(monkeypatch, lambda conf: conf.solo.clear())
    missions_cache_clear()
    yield request.param
    missions_cache_clear()


@pytest.fixture(params=["gated", "ungated"])
def gates(request, monkeypatch):
    """With the gate dropping the locked and opt-in missions a player has no way into, and with every run of them
    looked at one by one (`LabelMissions.gated` empty)."""
    if request.param == "ungated":
        _conf_altered(monkeypatch, lambda conf: setattr(conf, "gated", frozenset()))
    missions_cache_clear()
    yield request.param
    missions_cache_clear()
