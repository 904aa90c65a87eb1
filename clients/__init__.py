"""Typed HTTP clients of the Amber services, with the wire schemas each service answers in."""
