"""Serve a built mirror over plain HTTP (any static file server works; this one is stdlib)."""

from __future__ import annotations

import functools
from http.server import SimpleHTTPRequestHandler, ThreadingHTTPServer
from pathlib import Path


class _Handler(SimpleHTTPRequestHandler):
    # .gz indexes must reach apt as bytes, never with a Content-Encoding.
    extensions_map = {**SimpleHTTPRequestHandler.extensions_map, ".gz": "application/gzip"}


def make_server(root: Path, bind: str = "127.0.0.1", port: int = 0) -> ThreadingHTTPServer:
    """An HTTP server for ``root`` (``<base>``); port 0 picks a free port."""
    if not (Path(root) / "gpgkey").is_file():
        raise FileNotFoundError(f"{root} holds no built mirror (no gpgkey); run build first")
    handler = functools.partial(_Handler, directory=str(root))
    return ThreadingHTTPServer((bind, port), handler)
