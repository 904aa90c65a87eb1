"""Packages (SIPs becoming AIPs): the intellectual entity every PREMIS object and event belongs to."""
