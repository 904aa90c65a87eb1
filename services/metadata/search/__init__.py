"""Search over packages and files: a full-text index (SQLite FTS5 or PostgreSQL tsvector), filled in the background."""
