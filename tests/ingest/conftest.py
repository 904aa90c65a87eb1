"""Fixtures of the ingest tests."""

from __future__ import annotations

from collections.abc import Callable, Iterator
from typing import Any

import pytest

from services.ingest.fpr.runner import CommandRunner


@pytest.fixture
def runners() -> Iterator[Callable[..., CommandRunner]]:
    """`runners(**options)` makes a `CommandRunner`, closed after the test: until it is closed, a runner keeps its
    tool guard and its Python host running."""
    made: list[CommandRunner] = []

    def make(**options: Any) -> CommandRunner:
        made.append(CommandRunner(**options))
        return made[-1]

    yield make
    for runner in made:
        runner.close()
