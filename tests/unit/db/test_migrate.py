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


def test_the_same_revisions_and_head_as_alembic(fresh_reading: None) -> None:
    scripts = ScriptDirectory(str(migrate.MIGRATIONS_DIR))
    walked = list(scripts.walk_revisions())
    assert migrate.known_revisions() == {script.revision for script in walked}
    assert migrate.schema_head() == scripts.get_current_head()
    for script in walked:
        assert migrate._revisions()[script.revision] == script._normalized_down_revisions


def _script(directory: Path, revision: str, down: str | None) -> None:
    (directory / f"{revision}_x.py").write_text(
        f'"""x"""\nrevision = {revision!r}\ndown_revision: str | None = {down!r}\n'
    )


def test_two_heads_are_refused(
    fresh_reading: None, tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    (tmp_path / "versions").mkdir()
    _script(tmp_path / "versions", "0001", None)
    _script(tmp_path / "versions", "0002", "0001")
    monkeypatch.setattr(migrate, "MIGRATIONS_DIR", tmp_path)
    assert migrate.schema_head() == "0002"  # annotated assignments are read too
    migrate._revisions.cache_clear()
    migrate.schema_head.cache_clear()
    _script(tmp_path / "versions", "0003", "0001")  # a second branch from 0001
    with pytest.raises(RuntimeError, match="one head"):
        migrate.schema_head()


def test_a_serving_process_does_not_load_alembic() -> None:
    """Alembic and its templates cost each API and worker process ~10 MiB of memory."""
    code = (
        "import sys; import orderflow.api.app, orderflow.worker.main, orderflow.health; "
        "print('alembic' in sys.modules, 'mako' in sys.modules)"
    )
    done = subprocess.run(
        [sys.executable, "-c", code], capture_output=True, text=True, check=True, timeout=120
    )
    assert done.stdout.split() == ["False", "False"]
