"""Users of the public API."""
