"""PREMIS events about files and packages, and their links to agents."""
