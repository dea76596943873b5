"""Pinned, cached builds of the project's Go tools (stdlib only; see tools/README.md).

Each directory ``tools/go/<dir>/`` is a wrapper Go module (``go.mod``/``go.sum`` pinned
exactly) plus a ``tool.toml`` naming the binaries it produces, their package paths and
ldflags. Binaries land in a cache outside the repository::

    ${ORDERFLOW_CACHE:-~/.cache/orderflow}/tools/<dir>-<hash>/<binary>   (the build)
    ${ORDERFLOW_CACHE:-~/.cache/orderflow}/bin/<binary>                  (symlink to it)

``<hash>`` covers every file of the tool directory plus the Go toolchain version, so a
version bump rebuilds and a warm run rebuilds nothing.

Usage::

    python tools/gotool.py build [NAME ...]   # default: every non-optional binary
    python tools/gotool.py path NAME          # build if needed, print the binary path
    python tools/gotool.py list               # binaries, directories and cache state
    python tools/gotool.py bindir             # print the bin directory for PATH
"""

from __future__ import annotations

import argparse
import fcntl
import hashlib
import json
import os
import re
import shutil
import subprocess
import sys
import tempfile
import time
import tomllib
from contextlib import contextmanager
from dataclasses import dataclass, field
from pathlib import Path
from typing import TYPE_CHECKING

if TYPE_CHECKING:
    from collections.abc import Iterable, Iterator

TOOLS_DIR = Path(__file__).resolve().parent / "go"


def cache_root() -> Path:
    env = os.environ.get("ORDERFLOW_CACHE")
    return Path(env) if env else Path.home() / ".cache" / "orderflow"


def bin_dir() -> Path:
    return cache_root() / "bin"


@dataclass(frozen=True)
class Generate:
    """``[generate]``: binaries whose main package a generator writes at build time.

    The OTel collector has no upstream main package: the collector builder writes one from
    a manifest. ``tool`` (a binary of the same directory, built first) runs in a temporary
    directory with ``args`` (``{dir}`` = the tool directory, ``{src}`` = where the sources
    must go); the committed ``module``/go.mod + go.sum are then copied next to the sources and
    ``go build`` runs there with -mod=readonly, the package paths being relative to ``{src}``.
    """

    binaries: list[str]
    tool: str
    args: list[str]
    module: str


@dataclass(frozen=True)
class Embed:
    """``[embed]``: files a ``//go:embed`` pattern of a dependency needs, which upstream
    generates in its release build and which are therefore missing from the module zip
    (Alertmanager's web UI bundle). The build copies that module out of the module cache, adds
    the files (taken from the tool directory), and builds against the copy through a temporary
    ``-modfile`` with a ``replace``; the committed go.mod/go.sum stay untouched."""

    module: str
    files: dict[str, str]  # path inside the module -> file (or directory) in the tool directory


@dataclass(frozen=True)
class ToolDir:
    """One wrapper module: ``tools/go/<name>/`` and its parsed ``tool.toml``."""

    name: str
    path: Path
    vars: dict[str, str]
    env: dict[str, str]
    ldflags: list[str]
    binaries: dict[str, str]  # binary name -> Go package path, built by default
    optional: dict[str, str] = field(default_factory=dict)  # built only when named
    generate: Generate | None = None
    embed: Embed | None = None

    @classmethod
    def load(cls, path: Path) -> ToolDir:
        spec = tomllib.loads((path / "tool.toml").read_text())
        variables = {k: str(v) for k, v in spec.get("vars", {}).items()}
        build = spec.get("build", {})
        gen = spec.get("generate")
        emb = spec.get("embed")
        return cls(
            name=path.name,
            path=path,
            vars=variables,
            env={k: str(v) for k, v in build.get("env", {}).items()},
            ldflags=[str(f).format(**variables) for f in build.get("ldflags", [])],
            binaries=dict(spec.get("binaries", {})),
            optional=dict(spec.get("optional", {})),
            generate=Generate(
                binaries=list(gen["binaries"]),
                tool=str(gen["tool"]),
                args=[str(a) for a in gen.get("args", [])],
                module=str(gen.get("module", ".")),
            )
            if gen
            else None,
            embed=Embed(module=str(emb["module"]), files=dict(emb["files"])) if emb else None,
        )

    @property
    def version(self) -> str:
        return self.vars.get("version", "")

    def package(self, binary: str) -> str:
        return {**self.binaries, **self.optional}[binary]

    def generated(self, binary: str) -> bool:
        return self.generate is not None and binary in self.generate.binaries

    def key(self, go_version: str) -> str:
        """Hash of every file in the directory and of the toolchain that builds it."""
        digest = hashlib.sha256(go_version.encode())
        for file in sorted(p for p in self.path.rglob("*") if p.is_file()):
            digest.update(str(file.relative_to(self.path)).encode() + b"\0")
            digest.update(file.read_bytes() + b"\0")
        return digest.hexdigest()[:16]


def load_all() -> dict[str, ToolDir]:
    """Map of binary name -> the tool directory that builds it."""
    by_binary: dict[str, ToolDir] = {}
    for spec in sorted(TOOLS_DIR.glob("*/tool.toml")):
        tool = ToolDir.load(spec.parent)
        for binary in [*tool.binaries, *tool.optional]:
            if binary in by_binary:
                raise SystemExit(
                    f"binary {binary!r} defined twice ({tool.name}, {by_binary[binary].name})"
                )
            by_binary[binary] = tool
    return by_binary


def default_binaries() -> list[str]:
    return [b for b, tool in load_all().items() if b in tool.binaries]


def go_env() -> dict[str, str]:
    env = dict(os.environ)
    # Never fetch a different toolchain: only the module proxy is reachable in CI, and a
    # silent toolchain switch would change every cache key.
    env.setdefault("GOTOOLCHAIN", "local")
    # go.sum is committed and complete: a build must not rewrite it.
    env["GOFLAGS"] = (env.get("GOFLAGS", "") + " -mod=readonly").strip()
    return env


_go_version_cache: list[str] = []


def go_version() -> str:
    if not _go_version_cache:
        out = subprocess.run(
            ["go", "version"], env=go_env(), capture_output=True, text=True, check=True
        )
        _go_version_cache.append(out.stdout.strip())
    return _go_version_cache[0]


def store_dir(tool: ToolDir) -> Path:
    return cache_root() / "tools" / f"{tool.name}-{tool.key(go_version())}"


def installed_path(binary: str) -> Path:
    """Where the current pinned build of ``binary`` lives (whether built yet or not)."""
    return store_dir(load_all()[binary]) / binary


@contextmanager
def _lock() -> Iterator[None]:
    # Parallel pytest workers and make jobs may all ask for tools at once: build once.
    lock_path = cache_root() / "tools" / ".lock"
    lock_path.parent.mkdir(parents=True, exist_ok=True)
    with lock_path.open("w") as handle:
        fcntl.flock(handle, fcntl.LOCK_EX)
        try:
            yield
        finally:
            fcntl.flock(handle, fcntl.LOCK_UN)


def _link(binary: str, target: Path) -> None:
    link = bin_dir() / binary
    link.parent.mkdir(parents=True, exist_ok=True)
    if link.is_symlink() and os.readlink(link) == str(target):
        return
    tmp = link.with_name(f".{binary}.{os.getpid()}")
    tmp.unlink(missing_ok=True)
    tmp.symlink_to(target)
    tmp.replace(link)  # atomic: readers never see a missing binary


def _exe_name(package: str) -> str:
    """The file name `go build -o DIR/` gives a main package (skips a /vN suffix)."""
    parts = package.split("/")
    if len(parts) > 1 and re.fullmatch(r"v[0-9]+", parts[-1]):
        return parts[-2]
    return parts[-1]


def _generate(tool: ToolDir, gen: Generate, tmp: Path) -> Path:
    """Run the generator into ``tmp/src`` and give it the committed go.mod/go.sum."""
    generator = store_dir(tool) / gen.tool
    if not os.access(generator, os.X_OK):
        _build(tool, [gen.tool])
    src = tmp / "src"
    args = [a.format(dir=tool.path, src=src) for a in gen.args]
    print(f"gotool: generating sources with {gen.tool}", file=sys.stderr, flush=True)
    env = {**go_env(), "TMPDIR": str(tmp)}  # the collector builder leaves a temp dir behind
    subprocess.run([str(generator), *args], cwd=tmp, env=env, check=True)
    for name in ("go.mod", "go.sum"):
        shutil.copyfile(tool.path / gen.module / name, src / name)
    return src


def _embed_modfile(tool: ToolDir, embed: Embed, tmp: Path) -> Path:
    """A copy of ``embed.module`` with the missing embedded files, and a go.mod using it."""
    # `go mod download` (not `go list -m`, whose Dir is empty until the module is in the
    # cache: a cold machine) fetches the pinned version if needed and says where it is.
    downloaded = subprocess.run(
        ["go", "mod", "download", "-json", embed.module],
        cwd=tool.path,
        env=go_env(),
        capture_output=True,
        text=True,
        check=True,
    )
    source = json.loads(downloaded.stdout)["Dir"]
    copy = tmp / "module"
    # The module cache is read-only: copy without its modes.
    shutil.copytree(source, copy, copy_function=shutil.copyfile)
    for inside, source in embed.files.items():
        target = copy / inside
        target.parent.mkdir(parents=True, exist_ok=True)
        if (tool.path / source).is_dir():  # a whole generated tree (tilt's web UI)
            shutil.copytree(tool.path / source, target, dirs_exist_ok=True)
        else:
            shutil.copyfile(tool.path / source, target)
    modfile = tmp / "go.mod"
    modfile.write_text((tool.path / "go.mod").read_text() + f"\nreplace {embed.module} => {copy}\n")
    shutil.copyfile(tool.path / "go.sum", tmp / "go.sum")
    return modfile


def _build(tool: ToolDir, binaries: list[str]) -> float:
    dest = store_dir(tool)
    dest.mkdir(parents=True, exist_ok=True)
    started = time.monotonic()
    with tempfile.TemporaryDirectory(dir=dest, prefix=".build-") as tmp:
        cwd = tool.path
        if tool.generate is not None and tool.generated(binaries[0]):
            cwd = _generate(tool, tool.generate, Path(tmp))
        # One `go build` for the whole group links the binaries in parallel.
        out = tmp + "/" if len(binaries) > 1 else f"{tmp}/{binaries[0]}"
        cmd = ["go", "build", "-trimpath", "-ldflags", " ".join(tool.ldflags), "-o", out]
        if tool.embed is not None:
            cmd.append(f"-modfile={_embed_modfile(tool, tool.embed, Path(tmp))}")
        cmd += [tool.package(b) for b in binaries]
        print(
            f"gotool: building {', '.join(binaries)} ({tool.name} {tool.version})",
            file=sys.stderr,
            flush=True,
        )
        subprocess.run(cmd, cwd=cwd, env={**go_env(), **tool.env}, check=True)
        for binary in binaries:
            built = Path(tmp) / (binary if len(binaries) == 1 else _exe_name(tool.package(binary)))
            built.replace(dest / binary)
    elapsed = time.monotonic() - started
    with (dest / "build-times.txt").open("a") as times:
        times.write(f"{' '.join(binaries)}\t{elapsed:.0f}s\t{go_version()}\n")
    print(f"gotool: built {', '.join(binaries)} in {elapsed:.0f}s", file=sys.stderr, flush=True)
    return elapsed


def ensure(binaries: Iterable[str] | None = None) -> dict[str, Path]:
    """Build whatever is missing (a no-op when warm) and return binary -> path."""
    wanted = list(binaries) if binaries is not None else default_binaries()
    tools = load_all()
    unknown = [b for b in wanted if b not in tools]
    if unknown:
        raise SystemExit(f"gotool: unknown tool(s) {unknown}; known: {sorted(tools)}")
    paths = {b: store_dir(tools[b]) / b for b in wanted}
    missing = [b for b, p in paths.items() if not os.access(p, os.X_OK)]
    if missing:
        with _lock():
            # Group by directory so one `go build` links several binaries in parallel.
            groups: dict[str, list[str]] = {}
            for binary in missing:
                if not os.access(paths[binary], os.X_OK):  # another process may have won
                    tool = tools[binary]  # generated binaries build apart (other sources)
                    groups.setdefault(f"{tool.name}:{tool.generated(binary)}", []).append(binary)
            for group in groups.values():
                # A generator may have been built already, for an earlier group.
                todo = [b for b in group if not os.access(paths[b], os.X_OK)]
                if todo:
                    _build(tools[todo[0]], todo)
    for binary, path in paths.items():
        _link(binary, path)
    return paths


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(prog="gotool", description=__doc__.split("\n\n")[0])
    sub = parser.add_subparsers(dest="cmd", required=True)
    build = sub.add_parser("build", help="build missing binaries (default: all non-optional)")
    build.add_argument("names", nargs="*")
    build.add_argument("-v", "--verbose", action="store_true", help="print name and path")
    path = sub.add_parser("path", help="build if needed and print the binary's path")
    path.add_argument("name")
    sub.add_parser("list", help="show binaries and whether they are built")
    sub.add_parser("bindir", help="print the directory to put on PATH")
    args = parser.parse_args(argv)

    if args.cmd == "build":
        for name, p in ensure(args.names or None).items():
            if args.verbose:
                print(f"{name}\t{p}")
    elif args.cmd == "path":
        print(ensure([args.name])[args.name])
    elif args.cmd == "bindir":
        print(bin_dir())
    else:
        for name, tool in sorted(load_all().items()):
            p = installed_path(name)
            state = "built" if p.exists() else "missing"
            kind = "optional" if name in tool.optional else "default"
            print(f"{name:26} {tool.name:12} {tool.version:10} {kind:9} {state}")
    return 0


if __name__ == "__main__":
    sys.exit(main())
