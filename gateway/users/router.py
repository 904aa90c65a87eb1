"""Users and their roles (administrators only), and the caller's own account."""

from __future__ import annotations

from fastapi import APIRouter, status

from gateway.auth import AUTHORIZED, CurrentUserDep
from gateway.schemas import UserCreate, UserRead, UserUpdate
from gateway.settings import API_PREFIX
from gateway.users import service
from servicekit.deps import SessionDep
from servicekit.pagination import Page, PageDep
from servicekit.roles import Role, role_operation

router = APIRouter(prefix=API_PREFIX, tags=["gateway"], dependencies=AUTHORIZED)
ADMIN = role_operation(Role.admin)
USER_PATH = "/users/{username}"


@router.get(
    "/me", response_model=UserRead, summary="The user the presented API key belongs to, with their role",
    openapi_extra=role_operation(Role.reader),
)
async def get_current_user(user: CurrentUserDep) -> UserRead:
    return user


@router.get("/users", response_model=Page[UserRead], summary="List users, disabled ones included", openapi_extra=ADMIN)
async def list_users(session: SessionDep, page: PageDep) -> Page[UserRead]:
    items, total = await service.list_page(session, limit=page.limit, offset=page.offset)
    return Page[UserRead].of(items, total, page)


@router.post(
    "/users", response_model=UserRead, status_code=status.HTTP_201_CREATED, summary="Create a user with a role",
    openapi_extra=ADMIN,
)
async def create_user(body: UserCreate, session: SessionDep) -> UserRead:
    return await service.create(session, body.username, body.role)


@router.get(USER_PATH, response_model=UserRead, summary="Get a user", openapi_extra=ADMIN)
async def get_user(username: str, session: SessionDep) -> UserRead:
    return await service.read(session, username)


@router.patch(
    USER_PATH, response_model=UserRead, summary="Change a user's role, or disable or enable them",
    openapi_extra=ADMIN,
)
async def update_user(username: str, body: UserUpdate, admin: CurrentUserDep, session: SessionDep) -> UserRead:
    """Disabling takes effect at once: the user's keys are refused from the next request on. The last enabled
    administrator can be neither demoted nor disabled (409)."""
    return await service.update(session, username, body, actor=admin.username)
