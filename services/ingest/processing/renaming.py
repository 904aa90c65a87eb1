"""File-name sanitization inside the SIP: the plan is saved before it is applied, so a worker that dies half-way
through leaves a plan the next attempt finishes instead of a half-renamed tree planned anew."""

from __future__ import annotations

import json
from collections.abc import Iterator
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

from servicekit.ids import derived_id
from services.ingest.microservices.filenames import (
    BAG_EVENT_DETAIL,
    PathChange,
    RenamePlan,
    apply_renames,
    bag_safe_name,
    nfc,
    plan_renames,
    rename_event,
)
from services.ingest.processing.bagging import write_atomically


def sanitize_tree(root: Path, plan_file: Path, *, bag_safe: bool = False) -> list[PathChange]:
    """Rename everything under `root` (not `root` itself) to safe names; returns every path that changed.

    `bag_safe` changes only what a BagIt 0.97 manifest cannot name literally (see `bag_safe_name`), and names
    that equal a sibling's once Unicode-normalized; used where names are kept as sent (the transfer's logs).
    """
    if plan_file.exists():
        plan = RenamePlan.from_dict(json.loads(plan_file.read_text(encoding="utf-8")))
    else:
        plan = plan_renames(root, bag_safe_name, nfc) if bag_safe else plan_renames(root)
        write_atomically(plan_file, [json.dumps(plan.to_dict())])
    apply_renames(plan)
    return plan.changes


def changed_files(changes: list[PathChange], base: str) -> dict[str, str]:
    """New path → original path of the files (not folders), both relative to the bag's `data/`."""
    return {f"{base}/{c.new}": f"{base}/{c.old}" for c in changes if not c.is_dir}


def rename_events(ingest_uuid: str, changes: list[PathChange], base: str) -> Iterator[dict[str, Any]]:
    """A `filename change` event per renamed file, keyed by its new path, as intake's journal records are."""
    now = datetime.now(UTC).isoformat()
    for change in changes:
        if change.is_dir:
            continue
        spec = rename_event(change, prefix=f"%transferDirectory%{base}/")
        path = f"{base}/{change.new}"
        yield {"path": path, "uuid": str(derived_id(ingest_uuid, "filename change", path)), "type": spec.type,
               "datetime": now, "detail": spec.detail, "outcome": spec.outcome, "outcome_note": spec.outcome_note}


def package_rename_events(ingest_uuid: str, changes: list[PathChange], base: str) -> Iterator[dict[str, Any]]:
    """A package-level `filename change` event per renamed file of `base` (files there have no PREMIS object),
    in the journal's record shape with `path` null, naming the old and the new path."""
    now = datetime.now(UTC).isoformat()
    for change in changes:
        if change.is_dir:
            continue
        spec = rename_event(change, prefix=f"%SIPDirectory%{base}/")
        yield {"path": None, "uuid": str(derived_id(ingest_uuid, "filename change", f"{base}/{change.new}")),
               "type": spec.type, "datetime": now, "detail": BAG_EVENT_DETAIL, "outcome": spec.outcome,
               "outcome_note": spec.outcome_note}
