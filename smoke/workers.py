"""The ``langchain`` check in a worker process, so that its imports use another CPU core.

Importing LangChain's integrations (langchain-huggingface, langchain-openai: langchain_core,
langsmith, openai, huggingface_hub) costs ~1.5 s of CPU, more than every other import of a run
together. Python threads cannot overlap CPU-bound imports (the GIL), processes can: the
command line (``tgi-smoke``) forks one worker at start, before any thread exists; the worker
imports the integrations while the main process imports its own modules and the other client
libraries and runs the checks before ``langchain``. At its place in the check order the main
process hands the check to the worker once ``throughput`` is done (target, reachable URL,
timeout, /info; the API key goes through the pipe, never argv): the worker runs it while the
main process runs the checks between the two, and the outcome takes its place in the check
order, so order, names and statuses are those of an in-process run. A 401 from a check in
between still turns ``langchain`` into "not run" (its requests, already sent, are ignored).
Targets' jobs run concurrently, one worker thread each.

In-process callers (the pytest plugin, ``cli.main([...])`` from Python) run every check
in-process: ``start()`` is called by the command line only.
"""

from __future__ import annotations

import importlib
import importlib.util
import itertools
import multiprocessing
import threading
from concurrent.futures import Future
from typing import TYPE_CHECKING, Any

if TYPE_CHECKING:  # imported when used: the command line forks before its own imports
    from tgi_infra.smoke.context import CheckOutcome, TargetContext

CHECK = "langchain"
# The worker's check starts once this check is done: after the throughput floor's measurement
# (generate_stream), so that the worker's requests do not share the server with it.
START_AFTER = "throughput"
MODULES = ("langchain_huggingface", "langchain_openai")


class WorkerError(Exception):
    """The worker process ended before it answered."""


def _serve(conn: Any) -> None:
    """The worker: import the integrations, then run each job received in its own thread."""
    import signal

    # Ctrl-C reaches the whole process group: the main process handles it and ends the worker
    signal.signal(signal.SIGINT, signal.SIG_IGN)
    for name in MODULES:
        try:
            importlib.import_module(name)
        except Exception:  # noqa: S112 - the check reports the real error (or skips)
            continue
    from tgi_infra.smoke.clients import check_langchain
    from tgi_infra.smoke.context import CheckFailed, CheckSkipped, Settings, TargetContext

    lock = threading.Lock()

    def job(job_id: int, target: Any, base_url: str, timeout: float, state: dict) -> None:
        ctx = TargetContext(target=target, base_url=base_url, settings=Settings(timeout=timeout))
        ctx.info, ctx.engine = state["info"], state["engine"]
        try:
            out = check_langchain(ctx)
            m = out.measurements
            answer: tuple = ("passed", out.message, None if m is None else vars(m))
        except CheckFailed as exc:
            answer = ("failed", exc.sent, exc.expected, exc.got)
        except CheckSkipped as exc:
            answer = ("skipped", str(exc))
        except Exception as exc:
            answer = ("error", type(exc).__name__, str(exc))
        finally:
            ctx.close()
        with lock:
            conn.send((job_id, answer))

    while True:
        try:
            msg = conn.recv()
        except EOFError:
            return
        if msg is None:
            return
        threading.Thread(target=job, args=msg, daemon=True).start()


class Worker:
    """The main process's end: ``run(ctx)`` returns the check's outcome or raises as it would."""

    def __init__(self) -> None:
        mp = multiprocessing.get_context("fork")
        self.conn, child = mp.Pipe()
        self.proc = mp.Process(target=_serve, args=(child,), name="smoke-langchain", daemon=True)
        self.proc.start()
        child.close()
        self.ids = itertools.count()
        self.lock = threading.Lock()
        self.pending: dict[int, Future] = {}
        self.reader = threading.Thread(target=self._read, name="smoke-worker-reader", daemon=True)
        self.reader.start()

    def _read(self) -> None:
        while True:
            try:
                job_id, answer = self.conn.recv()
            except (EOFError, OSError):
                break
            with self.lock:
                future = self.pending.pop(job_id, None)
            if future is not None:
                future.set_result(answer)
        with self.lock:
            left, self.pending = list(self.pending.values()), {}
        for future in left:
            future.set_exception(
                WorkerError(f"the langchain worker process ended ({self._code()})")
            )

    def _code(self) -> str:
        self.proc.join(timeout=1)
        return f"exit code {self.proc.exitcode}"

    def submit(self, ctx: TargetContext) -> Future:
        """Start the check on ``ctx``'s target; ``outcome(future)`` waits for it."""
        future: Future = Future()
        with self.lock:
            job_id = next(self.ids)
            self.pending[job_id] = future
            state = {"info": ctx.info, "engine": ctx.engine}
            self.conn.send((job_id, ctx.target, ctx.base_url, ctx.settings.timeout, state))
        return future

    def close(self) -> None:
        """End the worker: every answer the run waits for has come (the command line's end)."""
        self.proc.terminate()
        self.proc.join(timeout=5)
        self.conn.close()


def outcome(future: Future) -> CheckOutcome:
    """The worker's answer, as the check function's own return value or exception."""
    from tgi_infra.smoke.context import CheckFailed, CheckOutcome, CheckSkipped, Measurements

    answer = future.result()
    kind, rest = answer[0], answer[1:]
    if kind == "passed":
        message, m = rest
        return CheckOutcome(message, None if m is None else Measurements(**m))
    if kind == "failed":
        raise CheckFailed(*rest)
    if kind == "skipped":
        raise CheckSkipped(rest[0])
    name, text = rest
    raise type(name, (Exception,), {})(text)


_worker: Worker | None = None


def start() -> None:
    """Fork the worker (the command line, first thing, before any thread and before its own
    heavy imports); no-op without the extra."""
    global _worker
    if _worker is None and any(importlib.util.find_spec(m) for m in MODULES):
        _worker = Worker()


def started() -> bool:
    return _worker is not None


def submit(ctx: TargetContext) -> dict[str, Future]:
    """Start the worker's check on ctx's target (after START_AFTER): {check name: future}."""
    from tgi_infra.smoke.engines import checks_for

    if _worker is None or ctx.auth_refused or CHECK not in checks_for(ctx.engine):
        return {}
    return {CHECK: _worker.submit(ctx)}


def stop() -> None:
    global _worker
    if _worker is not None:
        _worker.close()
        _worker = None
