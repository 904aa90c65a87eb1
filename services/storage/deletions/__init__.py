"""Deletion requests: asked for by one user, approved or rejected by another."""
