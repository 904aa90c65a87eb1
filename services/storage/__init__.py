"""The storage service: spaces, locations and stored packages (AIPs), with streamed upload and download."""
