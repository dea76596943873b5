"""Comments and documentation point only at things that exist in this repository.

Every repository-relative path named in a comment, a docstring or a Markdown file exists; every
dotted name of one of the project's modules (``orderflow.worker.relay.OutboxRelay``) names a
module, and a class or function in it, that exist; and nothing refers to notes or trackers
outside the project (design notes live in ``docs/``).
"""

from __future__ import annotations

import ast
import io
import os
import re
import subprocess
import tokenize
from functools import cache
from pathlib import Path

import pytest

REPO = Path(__file__).resolve().parents[2]
SKIPPED_SUFFIXES = (".lock", ".sum", ".json", ".png", ".svg", ".tgz")
# Not paths: an upstream image name shares its organisation with the otel/ folder.
NOT_PATHS = frozenset({"otel/opentelemetry-collector-contrib"})
# Where each importable root lives (the wheel and pytest's pythonpath say the same).
PACKAGE_DIRS = {
    "orderflow": REPO / "services" / "orderflow",
    "orderflow_operator": REPO / "operator" / "orderflow_operator",
    "orderflow_dashboards": REPO / "grafana-dashboards" / "orderflow_dashboards",
}
# Built from parts so this file does not trip its own check.
OUTSIDE = re.compile(
    "|".join(
        [
            r"\b" + "PIT" + r"FALLS\b",
            r"\.\./" + "shared",
            "/work/" + "shared",
            r"\b" + "issue" + r"s? ?#?\d+\b",
        ]
    ),
    re.IGNORECASE,
)


@cache
def tracked() -> frozenset[str]:
    """Every tracked file and folder: what a clone (CI's checkout) holds."""
    files = subprocess.run(
        ["git", "ls-files", "--cached"], cwd=REPO, capture_output=True, text=True, check=True
    ).stdout.splitlines()
    folders = {str(Path(f).parents[i]) for f in files for i in range(len(Path(f).parents) - 1)}
    return frozenset(files) | folders


@cache
def repo_files() -> tuple[str, ...]:
    """The tracked text files to read (a file only being written is checked once added)."""
    return tuple(
        sorted(f for f in tracked() if (REPO / f).is_file() and not f.endswith(SKIPPED_SUFFIXES))
    )


def _read(name: str) -> str | None:
    try:
        return (REPO / name).read_text()
    except UnicodeDecodeError:
        return None


def _python_prose(source: str) -> list[str]:
    """Comments and docstrings of a Python file (string literals in code are data)."""
    prose = [
        token.string
        for token in tokenize.generate_tokens(io.StringIO(source).readline)
        if token.type == tokenize.COMMENT
    ]
    # Docstrings of modules, classes and functions, and attribute docstrings (a string
    # statement after an assignment, as in settings): every string that is a statement.
    prose.extend(
        node.value.value
        for node in ast.walk(ast.parse(source))
        if isinstance(node, ast.Expr)
        and isinstance(node.value, ast.Constant)
        and isinstance(node.value.value, str)
    )
    return prose


_COMMENT = re.compile(r"(?:^|\s)#(.*)$", re.MULTILINE)
_BLOCK_COMMENT = re.compile(r"/\*(.*?)\*/", re.DOTALL)


@cache
def prose(name: str) -> str:
    """The human-readable part of a file: Markdown whole, comments and docstrings otherwise."""
    text = _read(name)
    if text is None:
        return ""
    if name.endswith(".md"):
        return text
    if name.endswith(".py"):
        return "\n".join(_python_prose(text))
    return "\n".join(
        [*(m.group(1) for m in _COMMENT.finditer(text)), *_BLOCK_COMMENT.findall(text)]
    )


@cache
def path_pattern() -> re.Pattern[str]:
    """A token starting with one of the repository's top-level folders."""
    tops = sorted({f.split("/")[0] for f in repo_files() if "/" in f and not f.startswith(".")})
    folders = "|".join(map(re.escape, tops))
    return re.compile(rf"(?<![\w./~$@-])(?:{folders})/[\w./*<>{{}}-]*")


def mentioned_paths(text: str) -> list[str]:
    found = []
    for match in path_pattern().finditer(text):
        path = match.group(0).rstrip(".,:;")
        if any(c in path for c in "*<>{}") or "..." in path or path in NOT_PATHS:
            continue  # a pattern or a placeholder, not one path
        found.append(path)
    return found


def _ignored(path: str) -> bool:
    """Generated output (git-ignored, like bench/results/) may be absent from a checkout."""
    result = subprocess.run(["git", "check-ignore", "-q", path], cwd=REPO, check=False)
    return result.returncode == 0


def _module_attribute(path: str) -> bool:
    """``tests/support/pyroscope.PyroscopeStandIn``: a name defined in a module file."""
    module, _, attribute = path.rpartition(".")
    return f"{module}.py" in tracked() and _defines(REPO / f"{module}.py", attribute)


def test_every_path_in_comments_and_docs_exists() -> None:
    missing = []
    for name in repo_files():
        for path in mentioned_paths(prose(name)):
            here = str((REPO / name).parent.relative_to(REPO) / path)
            if {path.rstrip("/"), here.rstrip("/")} & tracked() or _ignored(path):
                continue
            if not _module_attribute(path):
                missing.append(f"{name}: {path}")
    assert missing == []


_LINK = re.compile(r"\]\(([^)#\s]+)(?:#[^)]*)?\)")


def test_every_markdown_link_inside_the_repository_resolves() -> None:
    """Relative links (``[chart](charts/orderflow/README.md)``, ``(../README.md)``)."""
    broken = []
    for name in repo_files():
        if not name.endswith(".md"):
            continue
        for match in _LINK.finditer(prose(name)):
            target = match.group(1)
            if "://" in target or target.startswith("mailto:"):
                continue
            resolved = os.path.normpath(os.path.join(os.path.dirname(name), target))
            if resolved not in tracked() and not _ignored(resolved):
                broken.append(f"{name}: {target}")
    assert broken == []


_PACKAGES = "|".join(PACKAGE_DIRS)
_DOTTED = re.compile(rf"(?<![\w./-])({_PACKAGES})((?:\.[A-Za-z_]\w*)+)(?![\w/-])")


def _defines(module: Path, name: str) -> bool:
    source = module.read_text()
    return re.search(
        rf"^\s*(?:async\s+def|def|class)\s+{name}\b|^{name}\s*[:=]|^\s*self\.{name}\s*[:=]",
        source,
        re.MULTILINE,
    ) is not None or bool(re.search(rf"^(?:from\s+\S+\s+)?import .*\b{name}\b", source, re.M))


def _is_module(where: Path, name: str) -> bool:
    return (where / name / "__init__.py").is_file() or (where / f"{name}.py").is_file()


def resolves(package: str, parts: list[str]) -> bool:
    """``package.a.b.Name.method``: modules as far as they go, then at most a name and an
    attribute defined in the last module."""
    where = PACKAGE_DIRS[package]
    while parts and _is_module(where, parts[0]):
        where = where / parts[0]
        parts = parts[1:]
    module = where / "__init__.py" if where.is_dir() else where.with_suffix(".py")
    return len(parts) <= 2 and all(_defines(module, part) for part in parts)


def test_every_module_named_in_comments_and_docs_exists() -> None:
    """Dotted names are checked when they start with one of the package's modules: that tells
    ``orderflow.worker.relay`` (Python) from ``orderflow.dev`` (the API group) or a Helm
    template's ``orderflow.labels``. A renamed module, class or function below it is caught."""
    missing = []
    for name in repo_files():
        for match in _DOTTED.finditer(prose(name)):
            package, parts = match.group(1), match.group(2).strip(".").split(".")
            if parts[-1] in {"py", "md"} or not _is_module(PACKAGE_DIRS[package], parts[0]):
                continue  # a file name (checked as a path), or not Python at all
            if not resolves(package, parts):
                missing.append(f"{name}: {match.group(0)}")
    assert missing == []


def test_nothing_refers_to_notes_or_trackers_outside_the_project() -> None:
    found = [
        f"{name}:{number}: {line.strip()}"
        for name in repo_files()
        if (text := _read(name)) is not None
        for number, line in enumerate(text.splitlines(), 1)
        if OUTSIDE.search(line)
    ]
    assert found == []


@pytest.mark.parametrize(
    ("text", "paths"),
    [
        ("see docs/decisions.md.", ["docs/decisions.md"]),
        ("(tests/support/collector.py)", ["tests/support/collector.py"]),
        ("charts/orderflow/files/grafana-dashboards/*.json and tools/go/<dir>/", []),
        ("/work/main/tests/x and ~/tests/y and .venv/tests/z", []),
    ],
)
def test_path_detection(text: str, paths: list[str]) -> None:
    assert mentioned_paths(text) == paths


def test_the_checks_see_what_they_must() -> None:
    assert resolves("orderflow", ["worker", "relay", "OutboxRelay", "run"])
    assert resolves("orderflow", ["domain", "outbox"])
    assert not resolves("orderflow", ["worker", "relay", "resume_pass"])
    assert not resolves("orderflow", ["no_such_module"])
    assert OUTSIDE.search("as the tracker's Iss" + "ue #12 says")
    assert not OUTSIDE.search("tokens are issued; 12 issues were fixed")
