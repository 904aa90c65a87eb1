"""The merged OpenAPI document (no key needed, so that tools and /docs can read it)."""

from __future__ import annotations

from fastapi import APIRouter, Request
from fastapi.responses import JSONResponse

from gateway.openapi.service import PublicDocument
from gateway.proxy.registry import ServiceRegistry

router = APIRouter()


@router.get("/openapi.json", include_in_schema=False)
async def get_public_openapi(request: Request) -> JSONResponse:
    registry: ServiceRegistry = request.app.state.registry
    if registry.missing:
        # A service that was down at start-up may be up now; the refresh is rate-limited.
        await registry.refresh()
    document: PublicDocument = request.app.state.public_document
    return JSONResponse(document.document)
