"""The FastAPI peer under stock zero-code OpenTelemetry, in a virtualenv of its own.

What a FastAPI user gets from the OpenTelemetry documentation: ``pip install
opentelemetry-distro opentelemetry-exporter-otlp``, then ``opentelemetry-bootstrap -a install``
(one instrumentation per installed library it knows), then ``opentelemetry-instrument python
app.py``. That cannot share the project's virtualenv: bootstrap would add instrumentations
(asyncpg, FastAPI, ...) that zero-code mode of orderflow itself would then pick up. So the venv
lives in the cache, outside uv.lock, with the app's libraries at the versions the project's
venv has (same FastAPI, SQLAlchemy, asyncpg, redis as the plain peer) and the same SDK version
as the product. ``make bench`` builds it once (``python -m bench.zerocode --uv <uv>``).
"""

from __future__ import annotations

import argparse
import hashlib
import os
import shutil
import subprocess
import sys
from importlib.metadata import version
from pathlib import Path
from typing import TYPE_CHECKING

from bench.servers import otlp_protocol, sampler_env

if TYPE_CHECKING:
    from tests.support.collector import CollectorProcess

REPO = Path(__file__).resolve().parents[1]
SERVICE = "fastapi-zerocode"
DONE = "bootstrap-requirements.txt"
CACHE = Path(os.environ.get("ORDERFLOW_CACHE", Path.home() / ".cache" / "orderflow"))
#: The peer's own libraries, pinned to the project venv's versions.
APP_PACKAGES = (
    "fastapi",
    "starlette",
    "pydantic",
    "pydantic-core",
    "uvicorn",
    "uvloop",
    "httptools",
    "sqlalchemy",
    "greenlet",
    "asyncpg",
    "redis",
)


def requirements() -> list[str]:
    pins = [f"{name}=={version(name)}" for name in APP_PACKAGES]
    sdk = version("opentelemetry-sdk")
    pins.append(f"opentelemetry-distro=={version('opentelemetry-distro')}")
    pins.append(f"opentelemetry-exporter-otlp=={sdk}")
    return pins


def venv_dir() -> Path:
    digest = hashlib.sha256("\n".join(requirements()).encode()).hexdigest()[:12]
    return CACHE / f"bench-zerocode-{digest}"


def python() -> Path:
    return venv_dir() / "bin" / "python"


def instrument() -> Path:
    return venv_dir() / "bin" / "opentelemetry-instrument"


def interpreter() -> list[str]:
    """``opentelemetry-instrument python`` of the zero-code venv (built by ``make bench``)."""
    if not (venv_dir() / DONE).exists():
        raise RuntimeError(f"no zero-code venv at {venv_dir()}: run make bench (or {__name__})")
    return [str(instrument()), str(python())]


def env(collector: CollectorProcess) -> dict[str, str]:
    """The documented zero-code configuration, every signal to the bench's Collector at 100%
    sampling, everything else at its defaults (batch sizes, metric interval, exemplars)."""
    return {
        **collector.env(otlp_protocol()),
        "OTEL_SDK_DISABLED": "false",
        "OTEL_SERVICE_NAME": SERVICE,
        **sampler_env(),
        "OTEL_TRACES_EXPORTER": "otlp",
        "OTEL_METRICS_EXPORTER": "otlp",
        "OTEL_LOGS_EXPORTER": "otlp",
        "OTEL_PYTHON_LOGGING_AUTO_INSTRUMENTATION_ENABLED": "true",
        # The peer imports orderflow's models; the venv does not install the project.
        "PYTHONPATH": str(REPO / "services"),
    }


def build(uv: str) -> Path:
    target = venv_dir()
    done = target / DONE  # written last: a complete venv
    if done.exists():
        return target
    shutil.rmtree(target, ignore_errors=True)
    subprocess.run([uv, "venv", "--quiet", "--python", sys.executable, str(target)], check=True)
    install = [uv, "pip", "install", "--quiet", "--python", str(python())]
    subprocess.run([*install, *requirements()], check=True)
    # What bootstrap recommends for the libraries now installed (pinned to the distro's version).
    recommended = subprocess.run(
        [str(target / "bin" / "opentelemetry-bootstrap"), "-a", "requirements"],
        check=True,
        capture_output=True,
        text=True,
    ).stdout.split()
    subprocess.run([*install, *recommended], check=True)
    done.write_text("\n".join(recommended) + "\n")
    return target


def main() -> None:
    parser = argparse.ArgumentParser(prog="bench.zerocode", description=__doc__)
    parser.add_argument("--uv", required=True)
    args = parser.parse_args()
    target = build(args.uv)
    print(f"zero-code peer venv: {target}")


if __name__ == "__main__":
    main()
