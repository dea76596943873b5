"""kubeconform schemas generated offline from a live API server's OpenAPI v2 document.

kubeconform's default schema location is a download site that CI cannot reach, so the chart
tests generate the schemas from the test bed itself (``kubectl get --raw /openapi/v2``): the
exact API of the pinned Kubernetes version, plus any CRDs installed there. The layout is what
kubeconform's ``-schema-location DIR/{{ .ResourceKind }}{{ .KindSuffix }}.json`` expects
(``deployment-apps-v1.json``, ``service-v1.json``), and every schema is made strict the way the
published ``-standalone-strict`` schemas are: objects with declared properties reject unknown
ones, int-or-string and quantity fields accept both spellings. Each file is standalone: it
holds the definitions it references (``#/definitions/...``), so recursive types stay finite.
"""

from __future__ import annotations

import copy
import hashlib
import json
from pathlib import Path
from typing import Any

SCHEMA_LOCATION = "{{ .ResourceKind }}{{ .KindSuffix }}.json"
QUANTITY = "io.k8s.apimachinery.pkg.api.resource.Quantity"


def file_name(group: str, version: str, kind: str) -> str:
    """kubeconform's naming: kind, then the group's first label (if any), then the version."""
    suffix = f"-{group.split('.', maxsplit=1)[0].lower()}-{version}" if group else f"-{version}"
    return f"{kind.lower()}{suffix}.json"


def _strict(node: Any) -> Any:
    if isinstance(node, list):
        return [_strict(item) for item in node]
    if not isinstance(node, dict):
        return node
    out = {key: _strict(value) for key, value in node.items()}
    if out.get("format") == "int-or-string" or out.get("x-kubernetes-int-or-string"):
        out.pop("format", None)
        out.pop("anyOf", None)
        out["type"] = ["string", "integer"]
    if (
        "properties" in out
        and "additionalProperties" not in out
        and not out.get("x-kubernetes-preserve-unknown-fields")
    ):
        out["additionalProperties"] = False
    return out


def _refs(node: Any) -> set[str]:
    if isinstance(node, dict):
        found = set()
        ref = node.get("$ref")
        if isinstance(ref, str) and ref.startswith("#/definitions/"):
            found.add(ref.removeprefix("#/definitions/"))
        for value in node.values():
            found |= _refs(value)
        return found
    if isinstance(node, list):
        return set().union(*(_refs(item) for item in node)) if node else set()
    return set()


def _closure(definitions: dict[str, Any], root: str) -> dict[str, Any]:
    todo, seen = [root], set()
    while todo:
        name = todo.pop()
        if name in seen or name not in definitions:
            continue
        seen.add(name)
        todo.extend(_refs(definitions[name]))
    return {name: definitions[name] for name in sorted(seen)}


def generate(openapi: dict[str, Any], out: Path) -> int:
    """Write one strict, standalone schema per resource kind; return how many."""
    definitions = {name: _strict(d) for name, d in openapi["definitions"].items()}
    if QUANTITY in definitions:
        quantity = copy.deepcopy(definitions[QUANTITY])
        quantity["type"] = ["string", "number"]
        definitions[QUANTITY] = quantity
    out.mkdir(parents=True, exist_ok=True)
    written = 0
    for name, definition in definitions.items():
        for gvk in definition.get("x-kubernetes-group-version-kind", []):
            if gvk["kind"] in {"DeleteOptions", "WatchEvent", "Status", "APIGroup"}:
                continue
            schema = {"$ref": f"#/definitions/{name}", "definitions": _closure(definitions, name)}
            path = out / file_name(gvk.get("group", ""), gvk["version"], gvk["kind"])
            path.write_text(json.dumps(schema))
            written += 1
    return written


def cached_schemas(openapi_text: str, cache: Path) -> Path:
    """The schema directory for this OpenAPI document, generated once per distinct API."""
    digest = hashlib.sha256(openapi_text.encode()).hexdigest()[:16]
    target = cache / digest
    done = target / ".complete"
    if not done.exists():
        generate(json.loads(openapi_text), target)
        done.touch()
    return target
