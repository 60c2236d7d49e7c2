"""The smoke suite's import floor: CPU that importing its client libraries costs by itself.

The one-endpoint overhead of section 3 is bounded from below by work no harness design can
avoid while it keeps every client check: each client style has to import its library in the
process that runs its check. Measured here, each in a fresh interpreter (user + sys CPU from
``wait4``, minus a bare ``python -c pass``; median of ``reps``, after one warm-up for the page
cache and ``.pyc`` files):

- per client style (LangChain's two integrations apart), its modules alone (their shared
  dependencies included): a style's imports run in one interpreter one after the other, so the
  largest of these is a lower bound on the wall time on any number of cores;
- every client library in one interpreter (shared dependencies counted once): spread over
  ``nproc`` cores perfectly, this divided by ``nproc`` is a lower bound on this machine.

The floor is the interpreter's start plus the larger of the two bounds. It does not count the
harness's own modules, its checks or the requests: a harness can only be slower.
"""

from __future__ import annotations

import os
import subprocess
import sys
import tempfile
from pathlib import Path

from bench.stats import median

REPO = Path(__file__).resolve().parent.parent

# the five client styles of the smoke suite (smoke/checks.py, smoke/clients.py) and the
# modules each one's check imports (LangChain's two integrations apart)
STYLES: dict[str, tuple[str, ...]] = {
    "raw HTTP (requests, httpx)": ("requests", "httpx"),
    "text_generation": ("text_generation",),
    "huggingface_hub InferenceClient": ("huggingface_hub.inference._client",),
    # the `langchain` check drives both integrations; counted apart, as if each ran in a
    # process of its own, so that the bound holds for a harness that splits them
    "LangChain HuggingFaceEndpoint (langchain-huggingface)": ("langchain_huggingface",),
    "LangChain ChatOpenAI (langchain-openai)": ("langchain_openai",),
    "openai": ("openai",),
}


def cpu_s(code: str) -> float:
    """User + sys CPU seconds of ``python -c code`` in a fresh interpreter."""
    # stderr to a file, not a pipe: nobody reads a pipe while wait4 blocks
    with tempfile.TemporaryFile() as err:
        proc = subprocess.Popen(
            [sys.executable, "-c", code], cwd=REPO, stdout=subprocess.DEVNULL, stderr=err
        )
        _, status, usage = os.wait4(proc.pid, 0)
        proc.returncode = os.waitstatus_to_exitcode(status)
        if proc.returncode != 0:
            err.seek(0)
            tail = err.read().decode(errors="replace")[-500:]
            raise RuntimeError(f"python -c {code!r} failed ({proc.returncode}): {tail}")
    return usage.ru_utime + usage.ru_stime


def _imports(modules: tuple[str, ...]) -> str:
    return "; ".join(f"import {m}" for m in modules)


def floor(styles: dict[str, float], together: float, interpreter: float, nproc: int) -> dict:
    """The lower bounds from the measured CPU seconds (pure: unit-tested)."""
    single = max(styles.values())
    spread = together / nproc
    return {
        "largest_style_s": round(single, 3),
        "all_over_nproc_s": round(spread, 3),
        "floor_s": round(interpreter + max(single, spread), 3),
    }


def any_cores_s(floor: dict) -> float:
    """The bound on any number of cores: the interpreter, then the largest style's imports."""
    return floor["interpreter_s"] + floor["largest_style_s"]


def measure(reps: int, log) -> dict:
    every = tuple(m for mods in STYLES.values() for m in mods)
    cpu_s(_imports(every))  # warm-up: page cache, .pyc
    interpreter = median([cpu_s("pass") for _ in range(reps)])
    styles = {
        name: round(max(0.0, median([cpu_s(_imports(mods)) for _ in range(reps)]) - interpreter), 3)
        for name, mods in STYLES.items()
    }
    together = median([cpu_s(_imports(every)) for _ in range(reps)]) - interpreter
    nproc = os.cpu_count() or 1
    res = {
        "reps": reps,
        "nproc": nproc,
        "interpreter_s": round(interpreter, 3),
        "styles_s": styles,
        "together_s": round(together, 3),
        **floor(styles, together, interpreter, nproc),
    }
    log({"import_floor": res})
    return res
