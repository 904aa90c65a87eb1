"""The caller's own account."""

from __future__ import annotations

from fastapi import APIRouter

from gateway.auth import CurrentUserDep
from gateway.schemas import UserRead
from gateway.settings import API_PREFIX

router = APIRouter(prefix=API_PREFIX, tags=["gateway"])


@router.get("/me", response_model=UserRead, summary="The user the presented API key belongs to")
async def get_current_user(user: CurrentUserDep) -> UserRead:
    return user
