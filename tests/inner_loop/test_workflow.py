"""The users' kind workflow: actionlint (the pinned build) passes on it, and fails on a broken
copy (so the check is not vacuous); its steps use what exists in this repository."""

from __future__ import annotations

import re
import subprocess
from typing import TYPE_CHECKING, Any

import yaml

from tests.inner_loop.repo import REPO

if TYPE_CHECKING:
    from pathlib import Path

WORKFLOW = REPO / ".github" / "workflows" / "kind.yaml"


def _actionlint(tools: dict[str, Path], path: Path) -> subprocess.CompletedProcess[str]:
    return subprocess.run(
        [str(tools["actionlint"]), "-no-color", "-oneline", str(path)],
        capture_output=True,
        text=True,
        check=False,
        cwd=REPO,
    )


def test_actionlint_passes(tools: dict[str, Path]) -> None:
    proc = _actionlint(tools, WORKFLOW)
    assert proc.returncode == 0, proc.stdout + proc.stderr
    assert proc.stdout == ""


def test_actionlint_rejects_a_broken_copy(tools: dict[str, Path], tmp_path: Path) -> None:
    # A typo in an expression context and a dependency on a job that does not exist.
    broken = WORKFLOW.read_text().replace("${{ runner.temp }}", "${{ runner.tmpdir }}")
    broken = broken.replace(
        "    runs-on: ubuntu-24.04", "    needs: [build]\n    runs-on: ubuntu-24.04"
    )
    workflows = tmp_path / ".github" / "workflows"
    workflows.mkdir(parents=True)
    (workflows / "kind.yaml").write_text(broken)
    proc = _actionlint(tools, workflows / "kind.yaml")
    assert proc.returncode == 1, proc.stdout + proc.stderr
    assert '"tmpdir" is not defined' in proc.stdout
    assert '"build"' in proc.stdout


def _script(workflow: dict[str, Any]) -> str:
    steps = workflow["jobs"]["kubernetes"]["steps"]
    return "\n".join(str(step.get("run", "")) for step in steps)


def test_workflow_uses_what_the_repository_has() -> None:
    workflow = yaml.safe_load(WORKFLOW.read_text())
    script = _script(workflow)
    # kind with the project's cluster config.
    assert "kind create cluster" in script
    for path in re.findall(r"--config (\S+)", script):
        assert (REPO / path).is_file(), path
    # The three images, from Dockerfiles and targets that exist, all loaded into kind.
    builds = re.findall(r"docker build -f (\S+)(?: --target (\S+))? -t \"(\S+?):", script)
    assert {image for *_, image in builds} == {
        "orderflow-api",
        "orderflow-worker",
        "orderflow-operator",
    }
    for dockerfile, target, _ in builds:
        text = (REPO / dockerfile).read_text()
        if target:
            assert re.search(rf"^FROM \S+ AS {target}$", text, re.MULTILINE), (dockerfile, target)
    assert "kind load docker-image" in script
    # Both charts installed; they exist.
    for chart in re.findall(r"helm upgrade --install \S+ (\S+)", script):
        assert (REPO / chart / "Chart.yaml").is_file(), chart
    # The k8s suites through pytest-kubernetes' kind provider, on the cluster made above.
    pytest_step = next(
        s for s in workflow["jobs"]["kubernetes"]["steps"] if "pytest" in str(s.get("run", ""))
    )
    command = pytest_step["run"].replace("\\\n", " ").split()
    command = command[command.index("pytest") :]

    def option(name: str) -> str:
        return str(command[command.index(name) + 1]).strip('"')

    assert option("--k8s-provider") == "kind"
    # Named as pytest-kubernetes names its clusters (it prefixes `pytest-` otherwise), so its
    # `kind load` reaches the cluster the workflow created.
    assert option("--k8s-cluster-name") == "$KIND_CLUSTER"
    assert workflow["env"]["KIND_CLUSTER"].startswith("pytest-")
    # The kubeconfig is named explicitly (the suites ignore the KUBECONFIG exported for the
    # steps above), and it is the one the create step writes.
    assert option("--k8s-kubeconfig-override") == "$KIND_KUBECONFIG"
    assert pytest_step["env"]["KIND_KUBECONFIG"] == "${{ runner.temp }}/kubeconfig"
    assert '--kubeconfig "$RUNNER_TEMP/kubeconfig"' in script
    assert command[command.index("-m") + 1] == "k8s"
    suites = [arg for arg in command if arg.startswith("tests/")]
    assert suites
    for suite in suites:
        assert (REPO / suite).is_dir(), suite
