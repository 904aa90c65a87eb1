"""Micro-services of the ingest chain as plain synchronous code over files.

Each module does one job on real tools and returns per-file results with the PREMIS events to record, using
Archivematica's event types and outcome strings; the Temporal activities call them through `asyncio.to_thread`.
"""
