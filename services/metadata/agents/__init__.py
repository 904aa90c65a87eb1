"""PREMIS agents: the software, organization and people that events are attributed to."""
