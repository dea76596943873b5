"""The OpenAPI document tells the truth: schemathesis, with every check and its stateful phase,
against the real API on real PostgreSQL and Redis, finds nothing.

A fixed seed and a modest number of examples in the suite (reproducible); ``make fuzz`` runs
many more examples with a fresh seed (ORDERFLOW_FUZZ_EXAMPLES, ORDERFLOW_FUZZ_SEED=random).
"""

from __future__ import annotations

import os
import re
import subprocess
import sys
from pathlib import Path

import httpx
import pytest

from tests.support.api_client import register

CONFIG = Path(__file__).parent / "fuzz" / "schemathesis.toml"
EXAMPLES = os.environ.get("ORDERFLOW_FUZZ_EXAMPLES", "25")
SEED = os.environ.get("ORDERFLOW_FUZZ_SEED", "20261202")
# The fuzzer's logins fail by the hundred: from an address of their own, they use up no other
# test's login budget (the API trusts X-Forwarded-For from 127.0.0.1).
FUZZ_ADDRESS = "10.250.250.250"
PHASES = "examples,coverage,fuzzing,stateful"


def schemathesis(api_url: str, token: str, tmp: Path, *selection: str, phases: str = PHASES) -> str:
    command = [
        str(Path(sys.executable).parent / "st"),
        "--config-file", str(CONFIG),
        "--no-color",
        "run", f"{api_url}/schema/openapi.json",
        "--checks", "all",
        "--phases", phases,
        "--max-examples", EXAMPLES,
        # One worker: concurrent workers trip a thread-safety bug inside hypothesis.
        "--workers", "1",
        "--header", f"Authorization: Bearer {token}",
        "--header", f"X-Forwarded-For: {FUZZ_ADDRESS}",
        "--report-dir", str(tmp),
        *(["--seed", SEED] if SEED != "random" else []),
        *selection,
    ]  # fmt: skip
    result = subprocess.run(
        command, capture_output=True, text=True, check=False, cwd=tmp, timeout=1800
    )
    output = result.stdout + result.stderr
    summary = [
        line.strip()
        for line in output.splitlines()
        if re.search(r"\d+ generated|^Seed:|API Links:", line.strip())
    ]
    print("schemathesis", " ".join(selection) or "(all but logout)", "|", " | ".join(summary))
    assert result.returncode == 0, output[-12000:]
    return output


# About 0.7 s per example on two shared cores; the suite's default (300 s) covers the CI run.
@pytest.mark.timeout(max(300, 3 * int(EXAMPLES)))
def test_the_api_conforms_to_its_openapi_document(
    api_url: str, tmp_path_factory: pytest.TempPathFactory
) -> None:
    with httpx.Client(base_url=api_url, timeout=30) as http:
        token = register(http, prefix="fuzz").token
    # Logging out revokes the token every other operation is fuzzed with: on its own, after.
    schemathesis(api_url, token, tmp_path_factory.mktemp("fuzz"), "--exclude-path", "/api/logout")
    with httpx.Client(base_url=api_url, timeout=30) as http:
        token = register(http, prefix="fuzz").token
    schemathesis(
        api_url,
        token,
        tmp_path_factory.mktemp("fuzz-logout"),
        "--include-path",
        "/api/logout",
        phases="examples,coverage,fuzzing",  # no links lead from logout: nothing stateful
    )
