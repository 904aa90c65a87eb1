from alembic import context

from servicekit.migrations import run_env
from services.ingest.fpr import models as _fpr  # noqa: F401
from services.ingest.ingests.models import metadata
from services.ingest.jobs import models as _jobs  # noqa: F401  (registers the job table)
from services.ingest.jobs import task_models as _tasks  # noqa: F401
from services.ingest.normalization import models as _normalization  # noqa: F401
from services.ingest.processing_configs import models as _configs  # noqa: F401

# alembic.context is a proxy module standing in for the EnvironmentContext.
run_env(context, metadata)  # type: ignore[arg-type]
