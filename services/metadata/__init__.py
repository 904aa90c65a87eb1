"""The metadata service: PREMIS objects, events and agents of each package, and its AIP METS document."""
