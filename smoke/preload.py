"""Import the client libraries in a background thread while the network work runs.

The client checks exercise the real libraries (openai, huggingface_hub, text_generation,
LangChain), whose imports cost more CPU than the raw checks' HTTP work. Started first thing,
the imports overlap the ready wait, the raw checks and the servers' answers; a check that
needs a module before the thread has imported it waits on Python's per-module import lock,
so nothing is imported twice or half. Two threads importing libraries that import each other
(LangChain's integrations import huggingface_hub and openai) can still see a module half
initialised (``ImportError: ... partially initialized module``), so every client-library
import, here and in the checks (targets run in threads too), holds ``IMPORT_LOCK``.
"""

from __future__ import annotations

import importlib
import importlib.util
import threading

IMPORT_LOCK = threading.RLock()

# in the order the checks need them
MODULES = (
    "text_generation",
    "openai",
    "huggingface_hub.inference._client",
    "langchain_huggingface",
    "langchain_openai",
    "prometheus_client.parser",
)


def _import_all() -> None:
    for name in MODULES:
        try:
            if importlib.util.find_spec(name.split(".")[0]) is not None:
                with IMPORT_LOCK:
                    importlib.import_module(name)
        except Exception:  # noqa: S112 - the check that needs it reports the real error
            continue


def start() -> threading.Thread:
    thread = threading.Thread(target=_import_all, name="smoke-preload", daemon=True)
    thread.start()
    return thread
