"""Alembic environment of the gateway; run through servicekit.migrations.upgrade."""

from typing import cast

from alembic import context
from alembic.runtime.environment import EnvironmentContext

import gateway.archivematica.models
import gateway.keys.models
import gateway.users.models  # noqa: F401  (the imports register the tables on the gateway's metadata)
from gateway.db import GatewayTable
from servicekit.migrations import run_env

run_env(cast(EnvironmentContext, context), GatewayTable.metadata)
