"""The public document, rebuilt whenever the services' documents change."""

from __future__ import annotations

from collections.abc import Mapping
from typing import Any

from gateway.openapi.merge import merge_documents
from gateway.settings import API_PREFIX
from servicekit.roles import DEFAULT_ROLE, ROLE_DESCRIPTIONS, ROLE_EXTENSION

DESCRIPTION = (
    "The public API of an Amber digital-preservation stack. Every operation needs an API key: "
    "`Authorization: ApiKey <username>:<key>` or `Authorization: Bearer <key>`. Errors are "
    "`application/problem+json` (RFC 9457); every response carries an `X-Request-ID`.\n\n"
    "Every user has one role, and every operation names the role it needs (`" + ROLE_EXTENSION + "`, and the "
    "last sentence of its description); a key whose user's role is below it gets 403, a key that is unknown, "
    "revoked or whose user is disabled gets 401. The roles, each allowed what the ones before it are:\n\n"
    + "".join(f"- `{role.value}`: {text}\n" for role, text in ROLE_DESCRIPTIONS.items())
    + f"\nAn operation that names no role needs `{DEFAULT_ROLE.value}`."
)


class PublicDocument:
    """The merged document for the current set of service documents.

    Registered as the registry's `on_change` hook, so a set of documents that cannot be merged is refused before
    the routing table adopts it.
    """

    def __init__(self, gateway_doc: Mapping[str, Any], version: str) -> None:
        self._gateway_doc = gateway_doc
        self._version = version
        self.document: dict[str, Any] = self.build({})

    def build(self, services: Mapping[str, Mapping[str, Any]]) -> dict[str, Any]:
        return merge_documents(
            self._gateway_doc, services, prefix=API_PREFIX, title="Amber API", version=self._version,
            description=DESCRIPTION,
        )

    def update(self, services: Mapping[str, Mapping[str, Any]]) -> None:
        self.document = self.build(services)
