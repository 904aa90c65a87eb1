"""HTTP operations on deletion requests."""

from __future__ import annotations

from typing import Annotated
from uuid import UUID

from fastapi import APIRouter, Query

from clients.storage.schemas import DeletionDecision, DeletionRequestRead, DeletionRequestStatus
from servicekit.auth import CallerDep
from servicekit.roles import Role, role_operation
from services.storage.deletions import service
from services.storage.runtime import RuntimeDep

router = APIRouter(prefix="/deletion-requests", tags=["deletions"])


@router.get(
    "", response_model=list[DeletionRequestRead], summary="List deletion requests",
    openapi_extra=role_operation(Role.reader),
)
async def list_deletion_requests(
    runtime: RuntimeDep,
    caller: CallerDep,
    status_filter: Annotated[DeletionRequestStatus | None, Query(alias="status")] = None,
) -> list[DeletionRequestRead]:
    return await service.list_deletions(runtime, status_filter)


@router.get(
    "/{request_uuid}", response_model=DeletionRequestRead, summary="Get a deletion request",
    openapi_extra=role_operation(Role.reader),
)
async def get_deletion_request(request_uuid: UUID, runtime: RuntimeDep, caller: CallerDep) -> DeletionRequestRead:
    return await service.read_deletion(runtime, request_uuid)


@router.post(
    "/{request_uuid}/approve", response_model=DeletionRequestRead,
    summary="Approve a deletion (by another user than the requester): the package and its replicas are deleted",
    openapi_extra=role_operation(Role.admin),
)
async def approve_deletion_request(
    request_uuid: UUID, body: DeletionDecision, runtime: RuntimeDep, caller: CallerDep
) -> DeletionRequestRead:
    return await service.approve_deletion(runtime, request_uuid, body, caller)


@router.post(
    "/{request_uuid}/reject", response_model=DeletionRequestRead,
    summary="Reject a deletion (by another user than the requester): the package stays",
    openapi_extra=role_operation(Role.admin),
)
async def reject_deletion_request(
    request_uuid: UUID, body: DeletionDecision, runtime: RuntimeDep, caller: CallerDep
) -> DeletionRequestRead:
    return await service.reject_deletion(runtime, request_uuid, body, caller)
