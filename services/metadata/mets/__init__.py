"""The AIP METS document, written as a stream from the PREMIS records, and its offline XSD validation."""
