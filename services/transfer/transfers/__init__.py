"""Transfers: material received from a transfer-source location or an upload, placed for processing."""
