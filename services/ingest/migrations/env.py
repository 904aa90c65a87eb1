from alembic import context

from servicekit.migrations import run_env
from services.ingest.ingests.models import metadata
from services.ingest.jobs import models as _jobs  # noqa: F401  (registers the job table)

# alembic.context is a proxy module standing in for the EnvironmentContext.
run_env(context, metadata)  # type: ignore[arg-type]
