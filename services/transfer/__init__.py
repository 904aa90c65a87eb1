"""The transfer (intake) service: receives material and hands it to the ingest service."""
