from alembic import context

from servicekit.migrations import run_env
from services.metadata.agents import models as _agents  # noqa: F401  (registers the tables)
from services.metadata.db import MetadataTable
from services.metadata.events import models as _events  # noqa: F401
from services.metadata.files import models as _files  # noqa: F401
from services.metadata.packages import models as _packages  # noqa: F401
from services.metadata.record import models as _record  # noqa: F401
from services.metadata.search import models as _search  # noqa: F401

# alembic.context is a proxy module standing in for the EnvironmentContext.
run_env(context, MetadataTable.metadata)  # type: ignore[arg-type]
