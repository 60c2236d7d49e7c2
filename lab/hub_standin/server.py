"""The Hub's model API as huggingface_hub 0.36 reads it (CONTRACT.md names the client code).

Catalog (JSON)::

    {"models": {"org/name": {"gated": false, "private": false, "sha": "<40 hex>",
                             "revisions": ["main", "v1"],
                             "files": {"model.safetensors": 123, "config.json": 10}}},
     "tokens": {"hf_xxx": ["org/gated-model", ...]}}   # repos a token may read beyond public

Routes: ``GET /api/models/{repo_id}/auth-check``, ``GET /api/models/{repo_id}`` and
``GET /api/models/{repo_id}/revision/{revision}`` (``?blobs=true`` adds sizes), ``GET
/api/whoami-v2``. Errors carry the ``X-Error-Code`` / ``X-Error-Message`` headers that
``huggingface_hub.utils._http.hf_raise_for_status`` turns into its exceptions.
"""

from __future__ import annotations

import argparse
import hashlib
import json
import re
import sys
import threading
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from urllib.parse import parse_qs, unquote, urlparse

INVALID_CREDENTIALS = "Invalid credentials in Authorization header"
_MODEL = re.compile(r"^/api/models/(?P<repo>[^/]+/[^/]+|[^/]+)(?P<rest>/.*)?$")


class Catalog:
    def __init__(self, data: dict) -> None:
        self.models: dict[str, dict] = data.get("models", {})
        self.tokens: dict[str, list[str]] = data.get("tokens", {})

    def token_state(self, auth: str | None) -> tuple[str, str | None]:
        """("none"|"valid"|"invalid", token)."""
        if not auth:
            return "none", None
        token = auth.removeprefix("Bearer ").strip()
        return ("valid", token) if token in self.tokens else ("invalid", token)

    def can_read(self, repo: str, token: str | None) -> bool:
        return token is not None and repo in self.tokens.get(token, [])


class Handler(BaseHTTPRequestHandler):
    server_version = "hub-standin/1"
    catalog: Catalog

    def log_message(self, fmt: str, *args) -> None:  # quiet; never logs headers (tokens)
        pass

    def _send(self, code: int, body: dict | None = None, headers: dict | None = None) -> None:
        payload = json.dumps(body if body is not None else {}).encode()
        self.send_response(code)
        self.send_header("Content-Type", "application/json; charset=utf-8")
        self.send_header("Content-Length", str(len(payload)))
        for k, v in (headers or {}).items():
            self.send_header(k, v)
        self.end_headers()
        self.wfile.write(payload)

    def _error(self, code: int, error_code: str | None, message: str) -> None:
        headers = {"X-Error-Message": message}
        if error_code:
            headers["X-Error-Code"] = error_code
        self._send(code, {"error": message}, headers)

    def do_GET(self) -> None:  # noqa: N802 (http.server's name)
        url = urlparse(self.path)
        cat = self.catalog
        state, token = cat.token_state(self.headers.get("Authorization"))
        if url.path == "/api/whoami-v2":
            if state != "valid":
                return self._error(401, None, INVALID_CREDENTIALS)
            return self._send(200, {"type": "user", "name": "standin-user"})
        m = _MODEL.match(url.path)
        if not m:
            return self._error(404, None, "Not Found")
        repo, rest = unquote(m["repo"]), m["rest"] or ""
        if state == "invalid":  # the Hub rejects a bad token before looking at the repo
            return self._error(401, None, INVALID_CREDENTIALS)
        model = cat.models.get(repo)
        if model is None or model.get("private") and not cat.can_read(repo, token):
            return self._error(
                401 if state == "none" else 404, "RepoNotFound", "Repository not found"
            )
        if rest == "/auth-check":
            if model.get("gated") and not cat.can_read(repo, token):
                return self._error(
                    403,
                    "GatedRepo",
                    f"Access to model {repo} is restricted and you are not in the authorized list. "
                    f"Visit https://huggingface.co/{repo} to ask for access.",
                )
            return self._send(200, {})
        revision = "main"
        if rest.startswith("/revision/"):
            revision = unquote(rest.removeprefix("/revision/"))
        elif rest:
            return self._error(404, None, "Not Found")
        if revision not in model.get("revisions", ["main"]) and revision != model.get("sha"):
            return self._error(404, "RevisionNotFound", "Invalid rev id: " + revision)
        blobs = parse_qs(url.query).get("blobs", ["false"])[0].lower() == "true"
        return self._send(200, model_info(repo, model, revision, blobs))


def model_info(repo: str, model: dict, revision: str, blobs: bool) -> dict:
    sha = model.get("sha") or hashlib.sha1(f"{repo}@{revision}".encode()).hexdigest()
    siblings = []
    for name, size in sorted(model.get("files", {}).items()):
        sib: dict = {"rfilename": name}
        if blobs:
            blob = hashlib.sha1(f"{repo}/{name}".encode()).hexdigest()
            sib.update(size=size, blobId=blob)
            if name.endswith((".safetensors", ".bin")):
                sib["lfs"] = {
                    "size": size,
                    "sha256": hashlib.sha256(blob.encode()).hexdigest(),
                    "pointerSize": 134,
                }
        siblings.append(sib)
    gated = model.get("gated") or False
    return {
        "_id": hashlib.sha1(repo.encode()).hexdigest()[:24],
        "id": repo,
        "modelId": repo,
        "author": repo.split("/")[0],
        "sha": sha,
        "private": bool(model.get("private")),
        "gated": "manual" if gated is True else gated,
        "disabled": False,
        "downloads": 0,
        "likes": 0,
        "tags": ["safetensors"],
        "pipeline_tag": "text-generation",
        "library_name": "transformers",
        "siblings": siblings,
    }


def serve(catalog: Catalog, host: str = "127.0.0.1", port: int = 0) -> ThreadingHTTPServer:
    handler = type("BoundHandler", (Handler,), {"catalog": catalog})
    httpd = ThreadingHTTPServer((host, port), handler)
    threading.Thread(target=httpd.serve_forever, daemon=True).start()
    return httpd


def main(argv: list[str] | None = None) -> int:
    p = argparse.ArgumentParser(prog="hub-standin")
    p.add_argument("--config", required=True, help="catalog JSON (models, tokens)")
    p.add_argument("--host", default="127.0.0.1")
    p.add_argument("--port", type=int, default=0)
    args = p.parse_args(argv)
    with open(args.config) as f:
        httpd = serve(Catalog(json.load(f)), args.host, args.port)
    print(f"http://{args.host}:{httpd.server_address[1]}", flush=True)
    try:
        threading.Event().wait()
    except KeyboardInterrupt:
        pass
    httpd.shutdown()
    return 0


if __name__ == "__main__":
    sys.exit(main())
