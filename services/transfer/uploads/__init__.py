"""Resumable uploads: an archive sent in chunks over several requests, then made a transfer."""
