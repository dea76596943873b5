"""The revision identifiers readiness checks against, read without Alembic, agree with Alembic."""

from __future__ import annotations

import subprocess
import sys
from typing import TYPE_CHECKING

import pytest
from alembic.script import ScriptDirectory

from orderflow.db import migrate

if TYPE_CHECKING:
    from collections.abc import Iterator
    from pathlib import Path


@pytest.fixture
def fresh_reading() -> Iterator[None]:
    migrate._revisions.cache_clear()
    migrate.schema_head.cache_clear()
    yield
    migrate._revisions.cache_clear()
    migrate.schema_head.cache_clear()


def _agrees_with_alembic(directory: Path) -> None:
    scripts = ScriptDirectory(str(directory))
    walked = list(scripts.walk_revisions())
    assert migrate.known_revisions() == {script.revision for script in walked}
    assert migrate.schema_head() == scripts.get_current_head()
    for script in walked:
        # Parents proper: depends_on is a dependency, not a place in the history.
        assert migrate._revisions()[script.revision] == script._versioned_down_revisions


def test_the_shipped_migrations_read_as_alembic_reads_them(fresh_reading: None) -> None:
    _agrees_with_alembic(migrate.MIGRATIONS_DIR)


@pytest.fixture
def history(fresh_reading: None, tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> Path:
    """An empty migrations directory the module reads instead of the shipped one."""
    (tmp_path / "versions").mkdir()
    monkeypatch.setattr(migrate, "MIGRATIONS_DIR", tmp_path)
    return tmp_path


def _script(directory: Path, name: str, body: str) -> None:
    (directory / "versions" / name).write_text(f'"""x"""\nimport sqlalchemy as sa\n{body}\n')


def test_merges_dependencies_and_code_lines_read_as_alembic_reads_them(history: Path) -> None:
    (history / "versions" / "__init__.py").write_text("")  # not a revision, for Alembic either
    _script(history, "0001_a.py", 'revision = "0001"\ndown_revision = None')
    # Top-level code next to the declarations must not be evaluated.
    _script(history, "0002_b.py", 'orders = sa.table("orders")\nrevision = "0002"\n'
            'down_revision: str | None = "0001"')  # fmt: skip
    _script(history, "0003_c.py", 'revision = "0003"\ndown_revision = "0001"\n'
            'depends_on = "0002"')  # fmt: skip
    _script(history, "0004_merge.py", 'revision = "0004"\ndown_revision = ("0002", "0003")')
    _agrees_with_alembic(history)
    assert migrate.schema_head() == "0004"


def test_two_heads_are_refused(history: Path) -> None:
    _script(history, "0001_a.py", 'revision = "0001"\ndown_revision = None')
    _script(history, "0002_b.py", 'revision = "0002"\ndown_revision = "0001"')
    _script(history, "0003_c.py", 'revision = "0003"\ndown_revision = "0001"')
    with pytest.raises(RuntimeError, match="one head"):
        migrate.schema_head()


def test_a_parent_that_is_no_revision_is_refused(history: Path) -> None:
    """E.g. a branch label, which Alembic would resolve and this reading does not."""
    _script(history, "0001_a.py", 'revision = "0001"\ndown_revision = None')
    _script(history, "0002_b.py", 'revision = "0002"\ndown_revision = "mainline"')
    with pytest.raises(RuntimeError, match="mainline"):
        migrate.known_revisions()


def test_a_serving_process_does_not_load_alembic() -> None:
    """Alembic and Mako cost each API and worker process ~7 MiB resident; readiness must get
    its answer without them."""
    code = (
        "import sys; import orderflow.api.app, orderflow.worker.main, orderflow.health; "
        "from orderflow.db import migrate; "
        "assert migrate.schema_usable(migrate.schema_head()); "
        "assert not migrate.schema_usable('0001'); "
        "print('alembic' in sys.modules, 'mako' in sys.modules)"
    )
    done = subprocess.run(
        [sys.executable, "-c", code], capture_output=True, text=True, check=True, timeout=120
    )
    assert done.stdout.split() == ["False", "False"]
