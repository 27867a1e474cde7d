"""Settings of a long-lived process, applied where it starts (the Celery worker, each web worker via backoffice/wsgi.py;
benches that stand in for them).

The cyclic garbage collector's defaults suit short scripts: a young-generation pass every 700 allocations, and full
passes that walk every object the process holds. A pipeline batch allocates some 10^5 short-lived containers (event
payloads, rows, progress), nearly all freed by reference counting; with the defaults the collector ran hundreds of
passes per batch, a fifth of the missions handler's time (bench/gamification.py, 10,000 events).
"""

from __future__ import annotations

import gc

# (young generation every N allocations, middle every 20 young passes, old every 100 middle passes)
GC_THRESHOLDS = (50_000, 20, 100)


def gc_settle() -> None:
    """Move everything loaded so far (Django, the apps, their caches) out of the collector's sight, so full passes no
    longer walk it and forked pool children keep sharing its pages, and collect young objects less often."""
    gc.collect()
    gc.freeze()
    gc.set_threshold(*GC_THRESHOLDS)
