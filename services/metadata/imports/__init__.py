"""Importing documents into the record, streaming: a transfer's metadata/premis.xml and the METS of an
existing AIP (Archivematica's, PREMIS 2.2 and 3.0)."""
