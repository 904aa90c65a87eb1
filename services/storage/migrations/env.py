from alembic import context

from servicekit.migrations import run_env
from services.storage.db import metadata
from services.storage.deletions import models as _deletions  # noqa: F401  (registers the tables)
from services.storage.fixity import models as _fixity  # noqa: F401
from services.storage.locations import models as _locations  # noqa: F401
from services.storage.packages import models as _packages  # noqa: F401
from services.storage.spaces import models as _spaces  # noqa: F401

# alembic.context is a proxy module standing in for the EnvironmentContext.
run_env(context, metadata)  # type: ignore[arg-type]
