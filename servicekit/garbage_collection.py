"""The cyclic garbage collector set up for a long-running process (a service, a worker).

Profiles of the worker and the metadata service under an ingest showed some 6 % of their CPU in the collector:
every 700 allocations a young collection, and each older collection walked the hundreds of thousands of objects
the imports left behind (modules, classes, pydantic and SQLAlchemy schemas), none of which ever becomes garbage.
Frozen after start-up, those objects are never walked again; the young generation is also made larger, since a
batch of records allocates tens of thousands of short-lived objects that reference counting frees anyway.
"""

from __future__ import annotations

import gc

YOUNG_THRESHOLD = 10_000
"""Allocations (net of frees) between two young collections; Python's default is 700."""


def settle_after_startup() -> None:
    """Collect what start-up left, move every surviving object out of the collector's reach (gc.freeze) and
    make young collections rarer. Cycles made later are still found and freed, as before."""
    gc.collect()
    gc.freeze()
    _, middle, old = gc.get_threshold()
    gc.set_threshold(YOUNG_THRESHOLD, middle, old)
