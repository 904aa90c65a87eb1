"""Locations: purpose-bound folders inside a space (AIP storage, transfer sources, currently processing…)."""
