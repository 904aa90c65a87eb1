"""Spaces: the storage backends locations live in (only the local filesystem for now)."""
