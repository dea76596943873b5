"""The API, worker and operator images, built here from a locally made base (no registry).
API and worker run against real PostgreSQL and Redis the way the chart runs them: non-root,
read-only root filesystem with /tmp writable, all capabilities dropped. They answer /healthz and
/readyz, serve a request, and stop cleanly on SIGTERM within the pod's grace period. The
operator image holds the operator and none of the app; no image carries debug sections."""

from __future__ import annotations

import contextlib
import json
import re
import secrets
import shutil
import subprocess
import time
import uuid
from pathlib import Path
from typing import TYPE_CHECKING, Any

import httpx
import pytest
from elftools.elf.elffile import ELFFile

from orderflow.devservices import Postgres, Redis, free_port
from tests.charts.chart import REPO
from tests.support.api_client import register

if TYPE_CHECKING:
    from collections.abc import Iterator

GRACE_SECONDS = 30  # terminationGracePeriodSeconds of the chart's API and worker pods
HOST_EXTRA_CAS = Path("/usr/local/share/ca-certificates")


def docker(
    *args: str, check: bool = True, timeout: float = 120
) -> subprocess.CompletedProcess[str]:
    binary = shutil.which("docker")
    assert binary, "no docker client: `apt-get install docker.io` (make images starts the daemon)"
    proc = subprocess.run(
        [binary, *args], capture_output=True, text=True, check=False, timeout=timeout
    )
    if check and proc.returncode:
        raise AssertionError(f"docker {' '.join(args)} exited {proc.returncode}:\n{proc.stderr}")
    return proc


@pytest.fixture(scope="module")
def images() -> dict[str, str]:
    """target -> image, built by the same script as `make images` (cached layers when warm)."""
    started = time.monotonic()
    proc = subprocess.run(
        [str(REPO / "k8s" / "base-image" / "images.sh")],
        capture_output=True, text=True, check=False, timeout=1200,
    )  # fmt: skip
    assert proc.returncode == 0, proc.stderr
    built = proc.stdout.split()
    print(f"images built in {time.monotonic() - started:.1f}s: {built}")  # the report's number
    return {name.split(":")[0].removeprefix("orderflow-"): name for name in built}


@pytest.fixture(scope="module")
def app_env(postgres: Postgres, redis_server: Redis) -> dict[str, str]:
    return {
        "ENVIRONMENT": "production",
        "JWT_SECRET": secrets.token_hex(32),
        "DATABASE_URL": postgres.url,
        "REDIS_URL": redis_server.url,
        "OTEL_SDK_DISABLED": "true",
    }


def _run_args(env: dict[str, str]) -> list[str]:
    """How the chart runs the containers, in Docker terms; the host network reaches the
    throwaway servers on 127.0.0.1."""
    flags = [
        "--network", "host", "--read-only", "--tmpfs", "/tmp:rw,size=64m",  # noqa: S108 - the container's /tmp
        "--cap-drop", "ALL", "--security-opt", "no-new-privileges",
    ]  # fmt: skip
    for key, value in env.items():
        flags += ["-e", f"{key}={value}"]
    return flags


@pytest.fixture(scope="module")
def migrated(images: dict[str, str], app_env: dict[str, str]) -> None:
    docker("run", "--rm", *_run_args(app_env), images["api"], "migrate", "up", timeout=180)


@contextlib.contextmanager
def container(image: str, env: dict[str, str], *args: str) -> Iterator[str]:
    name = f"orderflow-test-{uuid.uuid4().hex[:8]}"
    docker("run", "-d", "--name", name, *_run_args(env), image, *args)
    try:
        yield name
    finally:
        docker("rm", "-f", name, check=False)


def _state(name: str) -> dict[str, Any]:
    state: dict[str, Any] = json.loads(docker("inspect", name).stdout)[0]["State"]
    return state


def _wait_ok(url: str, name: str, timeout: float = 60) -> httpx.Response:
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        if not _state(name)["Running"]:
            raise AssertionError(f"container exited:\n{docker('logs', name).stderr[-4000:]}")
        with contextlib.suppress(httpx.HTTPError):
            response = httpx.get(url, timeout=2)
            if response.status_code == 200:
                return response
        time.sleep(0.2)
    raise AssertionError(f"{url} not OK after {timeout}s:\n{docker('logs', name).stderr[-4000:]}")


def _stop_within_grace(name: str) -> float:
    """SIGTERM (docker stop) and the seconds until the process exited by itself."""
    started = time.monotonic()
    docker("stop", "-t", str(GRACE_SECONDS), name, timeout=GRACE_SECONDS + 30)
    elapsed = time.monotonic() - started
    state = _state(name)
    logs = docker("logs", name).stderr[-3000:]
    assert state["ExitCode"] == 0, f"exit code {state['ExitCode']} (137 = SIGKILLed):\n{logs}"
    assert elapsed < GRACE_SECONDS, f"took {elapsed:.1f}s to stop"
    return elapsed


@pytest.mark.parametrize("target", ["api", "worker"])
def test_image_runs_as_non_root_with_exec_entrypoint(images: dict[str, str], target: str) -> None:
    info = json.loads(docker("image", "inspect", images[target]).stdout)[0]
    config = info["Config"]
    assert config["User"] == "10001:10001"
    assert config["Entrypoint"] == ["orderflow"]  # exec form: PID 1 gets SIGTERM
    assert config["Cmd"] == [target]
    print(f"{images[target]}: {info['Size'] / 2**20:.0f} MiB")  # the report's number


def test_operator_image_runs_the_operator_as_non_root_without_the_app(
    images: dict[str, str],
) -> None:
    info = json.loads(docker("image", "inspect", images["operator"]).stdout)[0]
    config = info["Config"]
    assert config["User"] == "10001:10001"
    assert config["Entrypoint"] == ["python", "-m", "orderflow_operator"]
    probe = (
        "import importlib.util as u; "
        "print(*(m for m in ('kopf', 'asyncpg', 'redis', 'orderflow_operator', 'orderflow', "
        "'litestar', 'sqlalchemy', 'dramatiq', 'argon2') if u.find_spec(m)))"
    )
    found = docker(
        "run", "--rm", "--read-only", "--entrypoint", "python", images["operator"], "-c", probe
    ).stdout.split()
    assert found == ["kopf", "asyncpg", "redis", "orderflow_operator"], found
    print(f"{images['operator']}: {info['Size'] / 2**20:.0f} MiB")  # the report's number


@pytest.mark.parametrize("target", ["api", "operator"])
def test_extension_modules_carry_no_debug_sections(
    images: dict[str, str], target: str, tmp_path: Path
) -> None:
    """The Dockerfile strips the DWARF sections off the wheels' C extensions (a third of the
    operator image's virtualenv); the symbol tables stay, for native backtraces."""
    name = f"orderflow-test-{uuid.uuid4().hex[:8]}"
    docker("create", "--name", name, images[target])
    try:
        docker("cp", f"{name}:/opt", str(tmp_path))
    finally:
        docker("rm", "-f", name, check=False)
    modules = sorted(tmp_path.rglob("*.so"))
    assert len(modules) > 10, modules  # the virtualenv's extensions were found
    with_debug: list[Path] = []
    with_symbols: list[Path] = []
    for module in modules:
        with module.open("rb") as stream:
            sections = {section.name for section in ELFFile(stream).iter_sections()}
        if any(section.startswith(".debug_") for section in sections):
            with_debug.append(module.relative_to(tmp_path))
        if ".symtab" in sections:
            with_symbols.append(module)
    assert with_debug == [], f"{target}: extension modules with debug sections: {with_debug}"
    # --strip-debug, not --strip-all: the wheels' symbol tables survive (a few wheels ship
    # without one of their own).
    assert len(with_symbols) > len(modules) // 2, f"{len(with_symbols)} of {len(modules)}"


@pytest.mark.parametrize("target", ["api", "operator"])
def test_image_holds_no_compilers_package_tools_or_build_secrets(
    images: dict[str, str], target: str
) -> None:
    script = (
        "for tool in gcc cc g++ make strip ld uv pip pip3 apt-get; do "
        "command -v $tool >/dev/null 2>&1 && echo found:$tool; done; "
        "ls /run/secrets 2>/dev/null && echo found:/run/secrets; "
        "cat /etc/ssl/certs/ca-certificates.crt 2>/dev/null; true"
    )
    out = docker("run", "--rm", "--entrypoint", "sh", images[target], "-c", script).stdout
    found = re.findall(r"^found:(\S+)$", out, re.MULTILINE)
    # apt-get comes with the Debian base (official or local); compilers and build tools do not.
    assert set(found) <= {"apt-get"}, found
    # The CA bundle passed as a build secret (with this machine's extra CAs) is not baked in.
    for extra in HOST_EXTRA_CAS.glob("*.crt"):
        body = "".join(extra.read_text().split("-----")[2].split())
        assert body[:64] not in out.replace("\n", ""), f"{extra.name} leaked into the image"


def test_opentelemetry_instrument_configures_the_sdk_in_the_image(images: dict[str, str]) -> None:
    """Zero-code instrumentation inside the image: `opentelemetry-instrument orderflow ...`
    must set up the SDK (that takes the opentelemetry-distro package in the runtime
    dependencies; without it the command runs but leaves the no-op provider)."""
    probe = "from opentelemetry import trace; print(type(trace.get_tracer_provider()).__module__)"
    proc = docker(
        "run", "--rm", "--read-only", "-e", "OTEL_TRACES_EXPORTER=none",
        "-e", "OTEL_METRICS_EXPORTER=none", "-e", "OTEL_LOGS_EXPORTER=none",
        "--entrypoint", "opentelemetry-instrument", images["api"], "python", "-c", probe,
    )  # fmt: skip
    assert proc.stdout.strip() == "opentelemetry.sdk.trace", (
        f"no SDK under opentelemetry-instrument ({proc.stdout.strip()}): "
        "opentelemetry-distro must be a runtime dependency in pyproject.toml"
    )


def test_api_container_serves_and_stops_on_sigterm(
    images: dict[str, str], app_env: dict[str, str], migrated: None, redis_server: Redis
) -> None:
    port = free_port()
    base = f"http://127.0.0.1:{port}"
    with container(images["api"], {**app_env, "PORT": str(port)}) as name:
        _wait_ok(f"{base}/healthz", name)
        _wait_ok(f"{base}/readyz", name)
        assert httpx.get(f"{base}/api/health", timeout=5).status_code == 200
        with httpx.Client(base_url=base, timeout=10) as client:
            account = register(client, "image")
            me = client.get("/api/user", headers=account.auth)
            assert me.status_code == 200, me.text
            assert me.json()["user"]["username"] == account.username
        # Without Redis the API still serves (database reads, outbox): it stays ready, the
        # detailed view names the outage, liveness never looks at dependencies.
        redis_server.stop(remove=False)
        try:
            assert httpx.get(f"{base}/readyz", timeout=10).status_code == 200
            detail = httpx.get(f"{base}/api/health", timeout=10)
            assert detail.status_code == 503 and detail.json()["redis"] == "unhealthy"
            assert httpx.get(f"{base}/healthz", timeout=5).status_code == 200
        finally:
            redis_server.start()
        _wait_ok(f"{base}/api/health", name)
        elapsed = _stop_within_grace(name)
    print(f"api stopped {elapsed:.1f}s after SIGTERM")


def test_worker_container_serves_metrics_and_stops_on_sigterm(
    images: dict[str, str], app_env: dict[str, str], migrated: None
) -> None:
    port = free_port()
    env = {**app_env, "WORKER_METRICS_PORT": str(port), "WORKER_THREADS": "2"}
    with container(images["worker"], env) as name:
        # The liveness/startup endpoint of the chart's worker pods.
        _wait_ok(f"http://127.0.0.1:{port}/metrics", name)
        time.sleep(1)  # the relay and worker threads are running, not just starting
        elapsed = _stop_within_grace(name)
    print(f"worker stopped {elapsed:.1f}s after SIGTERM")
