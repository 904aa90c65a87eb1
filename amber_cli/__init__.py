"""The `amber` command line: run the stack, manage keys, ingest material."""
