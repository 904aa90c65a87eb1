"""The collector settled for a long-running process: start-up objects frozen, young collections rarer, and cycles
made afterwards still freed. Run in a child interpreter, since the settings are process-wide."""

from __future__ import annotations

import subprocess
import sys

CHILD = """
import gc, weakref
from servicekit.garbage_collection import YOUNG_THRESHOLD, settle_after_startup

class Node:
    pass

settle_after_startup()
assert gc.get_freeze_count() > 1000, gc.get_freeze_count()  # the interpreter's and the imports' objects
assert gc.get_threshold()[0] == YOUNG_THRESHOLD
node = Node()
node.self = node
alive = weakref.ref(node)
del node
# Net allocations of tracked objects are what start a young collection: kept alive, these start at least one.
kept = [[] for _ in range(2 * YOUNG_THRESHOLD)]
assert alive() is None, "a cycle made after start-up was not freed by the collector"
print("ok")
"""


def test_settled_collector_freezes_startup_objects_and_still_frees_later_cycles() -> None:
    done = subprocess.run([sys.executable, "-c", CHILD], capture_output=True, text=True, timeout=120)
    assert done.returncode == 0, done.stderr
    assert done.stdout.strip() == "ok"
