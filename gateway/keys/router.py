"""API key management (administrators only)."""

from __future__ import annotations

import uuid

from fastapi import APIRouter, Response, status

from gateway.auth import AUTHORIZED, CurrentUserDep
from gateway.keys import service
from gateway.schemas import KeyCreate, KeyCreated, KeyRead
from gateway.settings import API_PREFIX
from servicekit.deps import SessionDep
from servicekit.pagination import Page, PageDep
from servicekit.problems import NotFound
from servicekit.roles import Role, role_operation

router = APIRouter(prefix=f"{API_PREFIX}/keys", tags=["gateway"], dependencies=AUTHORIZED)
ADMIN = role_operation(Role.admin)


@router.get(
    "", response_model=Page[KeyRead], summary="List API keys, revoked ones included", openapi_extra=ADMIN
)
async def list_api_keys(session: SessionDep, page: PageDep) -> Page[KeyRead]:
    items, total = await service.list_page(session, limit=page.limit, offset=page.offset)
    return Page[KeyRead].of(items, total, page)


@router.post(
    "",
    response_model=KeyCreated,
    status_code=status.HTTP_201_CREATED,
    summary="Issue a key (the clear key is returned this once)",
    openapi_extra=ADMIN,
)
async def create_api_key(body: KeyCreate, admin: CurrentUserDep, session: SessionDep) -> KeyCreated:
    return await service.create_for_username(session, body.username or admin.username, body.name, body.role)


@router.delete("/{key_id}", status_code=status.HTTP_204_NO_CONTENT, summary="Revoke a key", openapi_extra=ADMIN)
async def revoke_api_key(key_id: uuid.UUID, session: SessionDep) -> Response:
    if await service.revoke_by_id(session, key_id) is None:
        raise NotFound("API key", key_id)
    return Response(status_code=status.HTTP_204_NO_CONTENT)
