"""The gateway: the one public API of an Amber stack, its API keys and users, and the merged OpenAPI document."""
