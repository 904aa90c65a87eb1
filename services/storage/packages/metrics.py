"""The storage service's metrics: packages and their bytes by type and status, fixity results.

Counts and bytes are read from the database at scrape time (true after a restart, across several processes);
the counters of bytes received and of fixity checks run count what this process did.
"""

from __future__ import annotations

from prometheus_client import Counter, Gauge
from sqlalchemy.ext.asyncio import AsyncSession, async_sessionmaker

from clients.storage.schemas import PackageRead, PackageStatus, PackageType
from servicekit.db import unit_of_work
from servicekit.metrics import Metrics
from services.storage.packages.repository import PackageRepository

FIXITY_RESULTS = ("passed", "failed", "unchecked")


class StorageMetrics:
    def __init__(self, metrics: Metrics, sessions: async_sessionmaker[AsyncSession]) -> None:
        registry = metrics.registry
        self.sessions = sessions
        self.packages = Gauge("amber_storage_packages", "Packages by type and status.", ["type", "status"],
                              registry=registry, multiprocess_mode="mostrecent")
        self.package_bytes = Gauge("amber_storage_package_bytes", "Bytes of the packages by type and status.",
                                   ["type", "status"], registry=registry, multiprocess_mode="mostrecent")
        self.fixity_state = Gauge("amber_storage_fixity_packages",
                                  "Packages kept (not deleted) by the result of their last fixity check.",
                                  ["result"], registry=registry, multiprocess_mode="mostrecent")
        self.stored_bytes = Counter("amber_storage_stored_bytes", "Bytes of packages stored (replicas included).",
                                    ["type"], registry=registry)
        self.stored_packages = Counter("amber_storage_stored_packages", "Packages stored (replicas included).",
                                       ["type"], registry=registry)
        self.fixity_checks = Counter("amber_storage_fixity_checks", "Fixity checks run, by result.", ["result"],
                                     registry=registry)
        metrics.on_scrape(self.refresh)

    def stored(self, package: PackageRead) -> None:
        self.stored_packages.labels(package.package_type.value).inc()
        self.stored_bytes.labels(package.package_type.value).inc(package.size or 0)

    def fixity_checked(self, success: bool) -> None:
        self.fixity_checks.labels("passed" if success else "failed").inc()

    async def refresh(self) -> None:
        async with unit_of_work(self.sessions) as session:
            repo = PackageRepository(session)
            totals = await repo.totals()
            fixity = await repo.fixity_results()
        for kind in PackageType:  # every pair, so one that empties shows 0 rather than its last value
            for status in PackageStatus:
                count, size = totals.get((kind, status), (0, 0))
                self.packages.labels(kind.value, status.value).set(count)
                self.package_bytes.labels(kind.value, status.value).set(size)
        for result in FIXITY_RESULTS:
            self.fixity_state.labels(result).set(fixity.get(result, 0))
