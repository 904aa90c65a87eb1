"""API keys: issued to users, stored as hashes, presented on every public request."""
