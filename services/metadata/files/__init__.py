"""PREMIS file objects: one per file of a package, with fixity, size and format."""
