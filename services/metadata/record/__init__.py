"""The record forwarded from the transfer: descriptive metadata, rights, identifiers, directories, structMaps."""
