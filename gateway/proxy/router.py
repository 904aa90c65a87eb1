"""The catch-all public route and the stack's health."""

from __future__ import annotations

from fastapi import APIRouter, Request, Response

from gateway.auth import AUTHORIZED, CurrentUserDep, authorize
from gateway.proxy import service
from gateway.proxy.registry import ServiceRegistry, first_segment
from gateway.schemas import StackHealth
from gateway.settings import API_PREFIX, GatewaySettings
from servicekit.metrics import name_operation
from servicekit.problems import Problem
from servicekit.roles import Role, role_operation

PROXIED_METHODS = ["GET", "HEAD", "POST", "PUT", "PATCH", "DELETE", "OPTIONS"]

health_router = APIRouter(prefix=API_PREFIX, tags=["gateway"], dependencies=AUTHORIZED)
router = APIRouter()


@health_router.get(
    "/health", response_model=StackHealth, summary="Health of every service behind the gateway",
    openapi_extra=role_operation(Role.reader),
)
async def get_stack_health(request: Request) -> StackHealth:
    settings: GatewaySettings = request.app.state.settings
    return await service.check_health(
        request.app.state.upstream_http, settings.service_urls(), settings.health_timeout_seconds
    )


@router.api_route(f"{API_PREFIX}/{{path:path}}", methods=PROXIED_METHODS, include_in_schema=False)
async def proxy_request(path: str, request: Request, user: CurrentUserDep) -> Response:
    registry: ServiceRegistry = request.app.state.registry
    segment = first_segment(path)
    owner = registry.owner(segment)
    if owner is None and segment not in registry.reserved and await registry.refresh():
        owner = registry.owner(segment)
    if owner is None:
        if segment in registry.reserved:
            raise Problem(405, "Method not allowed", f"{request.method} is not allowed on {request.url.path}")
        raise Problem(404, "Not found", f"No service serves {request.url.path}")
    forwarded = service.forwarded_path(request)
    if registry.operations.hides(request.method, forwarded):
        # Refused before the body is read, with the service's own answer to a path it does not have.
        return service.not_found(forwarded)
    # Before the body is read too: a reader's upload is refused without a byte of it received.
    name_operation(request, registry.operations.operation_id(request.method, forwarded) or f"{owner}_unknown")
    needed = registry.operations.required_role(request.method, forwarded)
    authorize(user, needed, f"{request.method} {request.url.path}")
    response = await service.forward(
        request,
        service=owner,
        service_url=registry.urls[owner],
        http=request.app.state.upstream_http,
        username=user.username,
        role=user.role,
        internal_token=request.app.state.internal_token,
    )
    if response.status_code == 405:
        return await service.hide_internal_methods(response, registry.operations, forwarded)
    return response
