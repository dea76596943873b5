"""The generator's write and check (``python -m orderflow_dashboards``) on a scratch chart."""

from __future__ import annotations

from typing import TYPE_CHECKING

import pytest

from orderflow_dashboards import render
from orderflow_dashboards.__main__ import main
from orderflow_dashboards.panels import DASHBOARDS

if TYPE_CHECKING:
    from pathlib import Path


@pytest.fixture
def chart(tmp_path: Path) -> Path:
    (tmp_path / "Chart.yaml").write_text("apiVersion: v2\nname: scratch\nversion: 0.0.0\n")
    return tmp_path


def test_write_renders_every_file_into_the_chart_and_check_then_passes(chart: Path) -> None:
    assert main(["--check", "--chart", str(chart)]) == 1, "an empty chart is stale"
    assert main(["--chart", str(chart)]) == 0
    boards = sorted(p.name for p in (chart / render.DASHBOARDS_DIR).glob("*.json"))
    assert len(boards) == len(DASHBOARDS)
    rules = sorted(p.name for p in (chart / render.RULES_DIR).glob("*.yaml"))
    assert rules == sorted([render.ALERTS_FILE, render.RECORDING_FILE])
    assert main(["--check", "--chart", str(chart)]) == 0
    assert render.stale(chart) == []


def test_an_edited_or_stray_file_is_stale_and_write_repairs_it(chart: Path) -> None:
    render.write(chart)
    edited = chart / render.RULES_DIR / render.ALERTS_FILE
    edited.write_text(edited.read_text() + "# hand edit\n")
    stray = chart / render.DASHBOARDS_DIR / "removed-board.json"
    stray.write_text("{}\n")
    assert render.stale(chart) == sorted([edited, stray])
    assert main(["--check", "--chart", str(chart)]) == 1
    assert render.write(chart) == sorted([edited, stray])
    assert not stray.exists()
    assert render.stale(chart) == []


def test_a_directory_that_is_not_a_chart_is_refused(tmp_path: Path) -> None:
    with pytest.raises(SystemExit) as exit_:
        main(["--chart", str(tmp_path)])
    assert exit_.value.code == 2
    assert list(tmp_path.iterdir()) == []
