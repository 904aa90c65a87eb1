"""Plumbing shared by every Amber service: settings, database, HTTP, auth, errors, ids and logs.

Nothing domain-specific lives here; a service's behaviour belongs to the service.
"""
