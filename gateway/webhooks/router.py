"""Webhook endpoints (administrators only): register, change, rotate secrets, read the delivery log, redeliver."""

from __future__ import annotations

import uuid
from typing import Annotated

from fastapi import APIRouter, Path, Query, Request, Response, status

from gateway.auth import AUTHORIZED, CurrentUserDep
from gateway.settings import API_PREFIX
from gateway.webhooks import service
from gateway.webhooks.schemas import (
    DeliveryRead,
    DeliveryStatus,
    WebhookCreate,
    WebhookCreated,
    WebhookRead,
    WebhookSecret,
    WebhookUpdate,
)
from servicekit.deps import SessionDep
from servicekit.pagination import SQL_INT_MAX, Page, PageDep
from servicekit.roles import Role, role_operation

router = APIRouter(prefix=f"{API_PREFIX}/webhooks", tags=["webhooks"], dependencies=AUTHORIZED)
ADMIN = role_operation(Role.admin)
ENDPOINT = "/{endpoint_id}"


@router.post("", response_model=WebhookCreated, status_code=status.HTTP_201_CREATED, openapi_extra=ADMIN,
             summary="Register a webhook endpoint for some or all event types")
async def create_webhook(body: WebhookCreate, session: SessionDep, user: CurrentUserDep) -> WebhookCreated:
    """Deliveries are signed per the Standard Webhooks specification with the `secret` answered (only now)."""
    return await service.create(session, body, user.username)


@router.get("", response_model=Page[WebhookRead], openapi_extra=ADMIN, summary="List webhook endpoints")
async def list_webhooks(session: SessionDep, page: PageDep) -> Page[WebhookRead]:
    return await service.list_page(session, page)


@router.get(ENDPOINT, response_model=WebhookRead, openapi_extra=ADMIN, summary="Get a webhook endpoint")
async def get_webhook(endpoint_id: uuid.UUID, session: SessionDep) -> WebhookRead:
    return await service.read(session, endpoint_id)


@router.patch(ENDPOINT, response_model=WebhookRead, openapi_extra=ADMIN,
              summary="Change a webhook endpoint, or disable or enable it")
async def update_webhook(endpoint_id: uuid.UUID, body: WebhookUpdate, session: SessionDep,
                         user: CurrentUserDep) -> WebhookRead:
    return await service.update(session, endpoint_id, body, user.username)


@router.delete(ENDPOINT, status_code=status.HTTP_204_NO_CONTENT, openapi_extra=ADMIN,
               summary="Remove a webhook endpoint and its delivery log")
async def delete_webhook(endpoint_id: uuid.UUID, session: SessionDep) -> Response:
    await service.delete(session, endpoint_id)
    return Response(status_code=status.HTTP_204_NO_CONTENT)


@router.post(f"{ENDPOINT}/rotate-secret", response_model=WebhookSecret, openapi_extra=ADMIN,
             summary="Give a webhook endpoint a new secret; the old one signs too for a grace period")
async def rotate_webhook_secret(endpoint_id: uuid.UUID, request: Request, session: SessionDep) -> WebhookSecret:
    return await service.rotate_secret(session, endpoint_id, request.app.state.settings)


@router.get(f"{ENDPOINT}/deliveries", response_model=Page[DeliveryRead], openapi_extra=ADMIN,
            summary="A webhook endpoint's deliveries, newest first: status, attempts, response code, latency")
async def list_webhook_deliveries(
    endpoint_id: uuid.UUID, session: SessionDep, page: PageDep,
    status_filter: Annotated[DeliveryStatus | None, Query(alias="status")] = None,
) -> Page[DeliveryRead]:
    return await service.deliveries(session, endpoint_id, status_filter, page)


@router.post(f"{ENDPOINT}/deliveries/{{delivery_id}}/redeliver", response_model=DeliveryRead, openapi_extra=ADMIN,
             summary="Send a delivery again now, as the same message (same webhook-id)")
async def redeliver_webhook(endpoint_id: uuid.UUID, delivery_id: Annotated[int, Path(ge=1, le=SQL_INT_MAX)],
                            session: SessionDep) -> DeliveryRead:
    return await service.redeliver(session, endpoint_id, delivery_id)
