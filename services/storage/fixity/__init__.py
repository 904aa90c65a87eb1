"""Fixity: checking stored packages on demand, and audits of whole locations (also on a schedule)."""
