from alembic import context

from servicekit.migrations import run_env
from services.transfer.db import metadata
from services.transfer.transfers import models as _transfers  # noqa: F401  (registers the transfer table)

# alembic.context is a proxy module standing in for the EnvironmentContext.
run_env(context, metadata)  # type: ignore[arg-type]
