"""Packages: the AIPs (later DIPs and transfers) the service keeps, their files and their records."""
