"""The AIP METS, fetched from the metadata service and validated while it arrives.

The metadata service writes the document from the record as the worker receives it; checking each piece as it
comes, on a thread of its own, puts the validation (0.35 ms per file) alongside the writing instead of after it,
and reads the document once instead of twice. Memory stays flat: what has been checked is forgotten.
"""

from __future__ import annotations

import asyncio
from concurrent.futures import ThreadPoolExecutor
from pathlib import Path
from uuid import UUID

from clients.metadata import MetadataClient
from servicekit.xmlschema import MetsFeed, validate_mets

FEED_BYTES = 1024 * 1024
"""Pieces are handed to the validating thread in about this size (the download's own chunks are small)."""


async def download_validated(metadata: MetadataClient, package_uuid: UUID, dest: Path,
                             tree_limit: int) -> tuple[int, list[str]]:
    """Write the package's METS to `dest`; returns its size and its schema errors (none when valid). Errors of a
    document up to `tree_limit` bytes are given with their lines (the streaming check cannot tell them)."""
    loop = asyncio.get_running_loop()
    # One thread for the whole document: an lxml parser belongs to the thread that uses it.
    with ThreadPoolExecutor(max_workers=1, thread_name_prefix="mets-validation") as thread:
        feed = await loop.run_in_executor(thread, MetsFeed)
        pending: list[bytes] = []
        pending_size = 0

        async def check() -> None:
            nonlocal pending_size
            data = b"".join(pending)
            pending.clear()
            pending_size = 0
            await loop.run_in_executor(thread, feed.feed, data)

        async def each(chunk: bytes) -> None:
            nonlocal pending_size
            pending.append(chunk)
            pending_size += len(chunk)
            if pending_size >= FEED_BYTES:
                await check()

        try:
            size = await metadata.download_mets(package_uuid, dest, each=each)
            await check()
        finally:
            errors = await loop.run_in_executor(thread, feed.close)
    if errors and size <= tree_limit:
        errors = await asyncio.to_thread(validate_mets, dest, tree_limit=tree_limit) or errors
    return size, errors
