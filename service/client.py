"""A small client for the job API (httpx), used by `seedforge submit / status / cancel / download`."""

from __future__ import annotations

import hashlib
import os
from pathlib import Path
from typing import Any

import httpx

from service.settings import TOKEN_ENV, TOKEN_FILE_ENV

URL_ENV = "SEEDFORGE_URL"
DEFAULT_URL = "http://127.0.0.1:8080"


class ClientError(RuntimeError):
    pass


def client_token(token_file: Path | None = None) -> str | None:
    token = os.environ.get(TOKEN_ENV, "").strip()
    path = token_file or (Path(os.environ[TOKEN_FILE_ENV]) if os.environ.get(TOKEN_FILE_ENV) else None)
    if not token and path is not None:
        token = path.read_text(encoding="utf-8").strip()
    return token or None


class Client:
    def __init__(self, url: str | None = None, token: str | None = None, timeout: float = 60.0):
        headers = {"Authorization": f"Bearer {token}"} if token else {}
        self.http = httpx.Client(base_url=url or os.environ.get(URL_ENV, DEFAULT_URL), headers=headers, timeout=timeout)

    def _call(self, method: str, path: str, **kwargs: Any) -> Any:
        try:
            response = self.http.request(method, path, **kwargs)
        except httpx.HTTPError as exc:
            raise ClientError(f"cannot reach {self.http.base_url}: {exc}") from None
        if response.status_code >= 400:
            try:
                detail = response.json().get("detail", response.text)
            except ValueError:
                detail = response.text
            raise ClientError(f"HTTP {response.status_code}: {detail}")
        return response.json()

    def submit(
        self,
        seeds: Path | None,
        config: Path | None = None,
        num: int | None = None,
        idempotency_key: str | None = None,
        domain: Path | None = None,
    ) -> dict[str, Any]:
        files: dict[str, Any] = {}
        for field, path in (("seeds", seeds), ("config", config), ("domain", domain)):
            if path is not None:
                files[field] = (path.name, path.read_bytes())
        data = {"num": str(num)} if num is not None else {}
        headers = {"Idempotency-Key": idempotency_key} if idempotency_key else {}
        return dict(self._call("POST", "/jobs", files=files, data=data, headers=headers))

    def job(self, job_id: str) -> dict[str, Any]:
        return dict(self._call("GET", f"/jobs/{job_id}"))

    def jobs(self, state: str | None = None) -> list[dict[str, Any]]:
        params = {"state": state} if state else {}
        return list(self._call("GET", "/jobs", params=params)["jobs"])

    def cancel(self, job_id: str) -> dict[str, Any]:
        return dict(self._call("POST", f"/jobs/{job_id}/cancel"))

    def artifacts(self, job_id: str) -> dict[str, Any]:
        return dict(self._call("GET", f"/jobs/{job_id}/artifacts"))

    def download(self, job_id: str, artifact: dict[str, Any], out_dir: Path) -> Path:
        """Stream one artifact to out_dir (atomically) and check its sha256 against the listing."""
        out_dir.mkdir(parents=True, exist_ok=True)
        name = Path(artifact["name"]).name  # the server's names are plain file names; never trust a path
        target = out_dir / name
        partial = out_dir / f".{name}.part"
        digest = hashlib.sha256()
        with self.http.stream("GET", f"/jobs/{job_id}/artifacts/{name}") as response:
            if response.status_code != 200:
                raise ClientError(f"HTTP {response.status_code} downloading {name}")
            with partial.open("wb") as handle:
                for chunk in response.iter_bytes():
                    digest.update(chunk)
                    handle.write(chunk)
        if digest.hexdigest() != artifact["sha256"]:
            partial.unlink(missing_ok=True)
            raise ClientError(f"{name}: sha256 mismatch (the run may have been republished; download again)")
        partial.replace(target)
        return target
