"""Forwarding of `/api/v1/...` to the service that owns the path, bodies streamed both ways."""
