"""The pinned tilt, skaffold, actionlint and helm, built before the tests run.

A cold tilt or skaffold build takes minutes (tools/README.md), longer than a test's timeout:
like the test bed plugin, build at collection time, only when these tests were collected.
Nothing is ever skipped for a missing tool: a tool that cannot be built fails the session.
"""

from __future__ import annotations

from pathlib import Path
from typing import TYPE_CHECKING

import pytest
from k8s.testbed.tools import ensure

from tests.inner_loop import bed

if TYPE_CHECKING:
    from collections.abc import Iterator

HERE = Path(__file__).resolve().parent
TOOLS = ["tilt", "skaffold", "actionlint", "helm"]


def pytest_collection_modifyitems(config: pytest.Config, items: list[pytest.Item]) -> None:
    if any(HERE in Path(str(item.path)).parents for item in items):
        ensure(TOOLS)


@pytest.fixture(scope="session")
def tools() -> dict[str, Path]:
    return ensure(TOOLS)


@pytest.fixture(scope="session")
def dev_cluster() -> Iterator[bed.DevCluster]:
    """The test bed with its real node and registry (bed.py), for the live tests; stopped
    at the end of the session with nothing left behind."""
    cluster = bed.start()
    yield cluster
    cluster.bed.stop()
