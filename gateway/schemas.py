"""Wire schemas of the gateway's own operations (users, API keys, stack health)."""

from __future__ import annotations

import uuid
from datetime import datetime
from enum import StrEnum

from pydantic import BaseModel, ConfigDict, Field

from servicekit.roles import Role

USERNAME_PATTERN = r"^[A-Za-z0-9][A-Za-z0-9._@-]{0,149}$"


class UserRead(BaseModel):
    model_config = ConfigDict(from_attributes=True)

    id: uuid.UUID
    username: str
    role: Role
    created_at: datetime
    disabled_at: datetime | None = Field(description="When the user was disabled; their keys stop working then.")
    disabled_by: str | None = Field(description="The administrator who disabled the user.")


class UserCreate(BaseModel):
    username: str = Field(pattern=USERNAME_PATTERN)
    role: Role = Role.reader


class UserUpdate(BaseModel):
    role: Role | None = Field(default=None, description="The user's new role.")
    disabled: bool | None = Field(
        default=None, description="true disables the user (their keys are refused at once); false enables them."
    )


class KeyCreate(BaseModel):
    name: str = Field(min_length=1, max_length=200, description="What the key is for, e.g. the client's name.")
    username: str | None = Field(
        default=None,
        pattern=USERNAME_PATTERN,
        description="Owner of the new key (created if missing); the caller when omitted.",
    )
    role: Role | None = Field(
        default=None,
        description="Role of the owner when the key creates them (reader when omitted); for an existing owner it "
        "must be their role, which PATCH /api/v1/users/{username} changes.",
    )


class KeyRead(BaseModel):
    id: uuid.UUID
    user_id: uuid.UUID
    username: str
    name: str
    prefix: str = Field(description="First characters of the key, to recognise it; the key itself is never stored.")
    created_at: datetime
    last_used_at: datetime | None = Field(description="Last use, to the minute.")
    revoked_at: datetime | None


class KeyCreated(KeyRead):
    key: str = Field(description="The key in clear. Shown this once; only its hash is kept.")


class ServiceStatus(StrEnum):
    ok = "ok"
    error = "error"
    unreachable = "unreachable"


class ServiceHealth(BaseModel):
    status: ServiceStatus
    detail: str | None = None


class StackStatus(StrEnum):
    ok = "ok"
    degraded = "degraded"


class StackHealth(BaseModel):
    status: StackStatus
    services: dict[str, ServiceHealth]
