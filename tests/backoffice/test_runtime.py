"""gc_settle: the garbage collector of a long-lived process."""

from __future__ import annotations

import gc

from backoffice.runtime import GC_THRESHOLDS, gc_settle


def test_gc_settle_freezes_what_is_loaded_and_raises_the_thresholds():
    before = gc.get_threshold()
    try:
        gc_settle()

        assert gc.get_threshold() == GC_THRESHOLDS
        assert gc.get_freeze_count() > 10_000  # this test process: Django, the apps, pytest
        assert gc.collect() >= 0  # collections still run, on what was allocated since
    finally:
        gc.unfreeze()
        gc.set_threshold(*before)
