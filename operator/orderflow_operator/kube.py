"""A small async Kubernetes API client for the operator's own calls.

kopf watches and patches the HealthPolicy objects itself; this client does the rest (get
workloads and Secrets, list pods, patch pods/status and the policy's status) with the very
credentials kopf logged in with (see ``handlers.login``), so the image needs no Kubernetes
client library and both share one identity.
"""

from __future__ import annotations

import base64
import json
import ssl
import tempfile
from pathlib import Path
from typing import TYPE_CHECKING, Any, Literal

import httpx

from orderflow_operator.crd import GROUP, PLURAL, VERSION

if TYPE_CHECKING:
    from collections.abc import Callable

    import kopf

PatchType = Literal["json", "merge", "strategic"]
_CONTENT_TYPES: dict[PatchType, str] = {
    "json": "application/json-patch+json",
    "merge": "application/merge-patch+json",
    "strategic": "application/strategic-merge-patch+json",
}


class ApiError(RuntimeError):
    def __init__(self, status: int, message: str) -> None:
        super().__init__(f"HTTP {status}: {message}")
        self.status = status
        self.message = message


def _pem(data: str | bytes) -> bytes:
    """kubeconfig ``*-data`` fields are base64 of PEM; accept raw PEM too."""
    raw = data.encode() if isinstance(data, str) else data
    return raw if raw.lstrip().startswith(b"-----BEGIN") else base64.b64decode(raw)


def _ssl_context(info: kopf.ConnectionInfo, scratch: Path) -> ssl.SSLContext | bool:
    if info.insecure:
        return False
    if info.ca_data:
        ctx = ssl.create_default_context(cadata=_pem(info.ca_data).decode())
    elif info.ca_path:
        ctx = ssl.create_default_context(cafile=str(info.ca_path))
    else:
        ctx = ssl.create_default_context()
    cert, key = info.certificate_path, info.private_key_path
    # load_cert_chain reads files only: inline client credentials go to a private temp dir.
    if info.certificate_data:
        cert = scratch / "client.crt"
        cert.write_bytes(_pem(info.certificate_data))
    if info.private_key_data:
        key = scratch / "client.key"
        key.touch(mode=0o600)
        key.write_bytes(_pem(info.private_key_data))
    if cert:
        ctx.load_cert_chain(str(cert), str(key) if key else None)
    return ctx


class KubeClient:
    def __init__(
        self,
        info: kopf.ConnectionInfo,
        relogin: Callable[[], kopf.ConnectionInfo | None] | None = None,
        timeout: float = 10.0,
    ) -> None:
        self._relogin = relogin
        self._timeout = timeout
        self._scratch = tempfile.TemporaryDirectory(prefix="orderflow-operator-")
        self._client = self._make_client(info)

    def _make_client(self, info: kopf.ConnectionInfo) -> httpx.AsyncClient:
        return httpx.AsyncClient(
            base_url=info.server,
            verify=_ssl_context(info, Path(self._scratch.name)),
            headers=info.as_http_headers(),
            timeout=self._timeout,
        )

    async def close(self) -> None:
        await self._client.aclose()
        self._scratch.cleanup()

    async def request(
        self,
        method: str,
        path: str,
        *,
        body: Any = None,
        params: dict[str, str] | None = None,
        content_type: str = "application/json",
    ) -> Any:
        content = None if body is None else json.dumps(body).encode()
        headers = {"Content-Type": content_type} if content is not None else {}
        for attempt in range(2):
            response = await self._client.request(
                method, path, content=content, params=params, headers=headers
            )
            # Projected ServiceAccount tokens rotate: log in again once, then give up.
            if response.status_code == 401 and attempt == 0 and self._relogin is not None:
                info = self._relogin()
                if info is not None:
                    old, self._client = self._client, self._make_client(info)
                    await old.aclose()
                    continue
            break
        if response.status_code >= 400:
            try:
                message = response.json().get("message", response.text)
            except ValueError:
                message = response.text
            raise ApiError(response.status_code, message)
        return response.json() if response.content else None

    async def get(self, path: str) -> Any:
        return await self.request("GET", path)

    async def list(self, path: str, label_selector: str | None = None) -> list[dict[str, Any]]:
        params = {"labelSelector": label_selector} if label_selector else None
        result = await self.request("GET", path, params=params)
        items: list[dict[str, Any]] = result.get("items") or []
        return items

    async def patch(self, path: str, body: Any, patch_type: PatchType) -> Any:
        return await self.request("PATCH", path, body=body, content_type=_CONTENT_TYPES[patch_type])


def workload_path(namespace: str, collection: str, name: str) -> str:
    return f"/apis/apps/v1/namespaces/{namespace}/{collection}/{name}"


def pods_path(namespace: str) -> str:
    return f"/api/v1/namespaces/{namespace}/pods"


def secret_path(namespace: str, name: str) -> str:
    return f"/api/v1/namespaces/{namespace}/secrets/{name}"


def policy_status_path(namespace: str, name: str) -> str:
    return f"/apis/{GROUP}/{VERSION}/namespaces/{namespace}/{PLURAL}/{name}/status"
