"""An orderflow process started with no configuration runs as production: without a strong
JWT_SECRET it refuses to start, says what to set, and never serves with the public development
secret (the state of an image run outside the chart)."""

from __future__ import annotations

import os
import subprocess
import sys

import pytest

CLEAN = {k: v for k, v in os.environ.items() if k not in {"ENVIRONMENT", "JWT_SECRET"}}


@pytest.mark.parametrize("command", [["api"], ["worker"], ["migrate", "version"]])
def test_a_process_without_configuration_refuses_to_start(command: list[str]) -> None:
    proc = subprocess.run(
        [sys.executable, "-m", "orderflow.cli", *command],
        env={**CLEAN, "PORT": "1", "WORKER_METRICS_PORT": "0"},
        capture_output=True,
        text=True,
        timeout=60,
        check=False,
    )
    assert proc.returncode == 2, proc.stderr
    assert "JWT_SECRET is missing and ENVIRONMENT='production'" in proc.stderr
    assert "openssl rand -hex 32" in proc.stderr


def test_development_is_an_explicit_opt_in() -> None:
    proc = subprocess.run(
        [sys.executable, "-c", "from orderflow.settings import Settings as S;"
         "print(S.from_env().app.environment)"],
        env={**CLEAN, "ENVIRONMENT": "development"},
        capture_output=True, text=True, timeout=60, check=True,
    )  # fmt: skip
    assert proc.stdout.strip() == "development"
