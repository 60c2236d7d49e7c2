"""A TCP relay that adds network latency to the bench hosts' SSH path (no ``tc netem`` here).

Each bench host gets a listener on 127.0.0.1; every connection to it is relayed to the host's
sshd, and every chunk read on one side is written to the other ``rtt/2`` later, in order, in both
directions: a round trip over an open connection costs ``rtt`` more. This is delay, not a
throughput limit: chunks are queued with their due time and a later chunk does not wait for an
earlier one's delay, only for its turn. Opening a connection costs what a TCP handshake costs on
such a link: the relay connects to the host 1.5 ``rtt`` after it accepted (when a real server
would see the handshake's last packet) and holds the client's bytes until then, so the first
exchange takes two round trips, as it would. ``rtt_ms = 0`` relays without delay (the same hop,
so rows differ only by the delay).

Run as ``python -m bench.relay --rtt-ms 50 NAME=ADDRESS:PORT ...``: it prints one JSON line
``{"NAME": local_port, ...}`` once listening and relays until stdin closes or it is signalled.
``running()`` starts that process and stops it (the bench's own process stays out of the path;
the relay's CPU is not counted in a tool's process tree).
"""

from __future__ import annotations

import argparse
import asyncio
import contextlib
import json
import signal
import subprocess
import sys
from collections.abc import Iterator
from pathlib import Path

REPO = Path(__file__).resolve().parent.parent


async def _pump(
    reader: asyncio.StreamReader,
    writer_ready: asyncio.Future,
    delay_s: float,
) -> None:
    """Copy ``reader`` to the writer ``writer_ready`` resolves to, each chunk ``delay_s`` late."""
    loop = asyncio.get_running_loop()
    queue: asyncio.Queue = asyncio.Queue()

    async def read() -> None:
        try:
            while True:
                data = await reader.read(65536)
                queue.put_nowait((loop.time() + delay_s, data))
                if not data:
                    return
        except (ConnectionError, OSError):
            queue.put_nowait((loop.time(), b""))

    async def write() -> None:
        writer: asyncio.StreamWriter = await writer_ready
        ready_at = loop.time()  # nothing reaches a host before its connection is open
        while True:
            due, data = await queue.get()
            due = max(due, ready_at)
            wait = due - loop.time()
            if wait > 0:
                await asyncio.sleep(wait)
            if not data:
                if writer.can_write_eof():
                    with contextlib.suppress(OSError):
                        writer.write_eof()
                return
            writer.write(data)
            await writer.drain()

    task = asyncio.ensure_future(read())
    try:
        await write()
    finally:
        task.cancel()


async def _handle(
    client_r: asyncio.StreamReader,
    client_w: asyncio.StreamWriter,
    target: tuple[str, int],
    rtt_s: float,
) -> None:
    loop = asyncio.get_running_loop()
    upstream: asyncio.Future = loop.create_future()
    client_ready: asyncio.Future = loop.create_future()
    client_ready.set_result(client_w)

    async def connect() -> asyncio.StreamReader:
        # The TCP handshake: on a real link the server accepts when the third packet arrives,
        # 1.5 round trips after the client's SYN; the client's first bytes (sent once its
        # connect returned, after one round trip) arrive then too.
        await asyncio.sleep(1.5 * rtt_s)
        r, w = await asyncio.open_connection(*target)
        upstream.set_result(w)
        return r

    try:
        up_r = None
        to_host = asyncio.ensure_future(_pump(client_r, upstream, rtt_s / 2))
        try:
            up_r = await connect()
        except OSError:
            to_host.cancel()
            raise
        to_client = asyncio.ensure_future(_pump(up_r, client_ready, rtt_s / 2))
        # a connection ends once both directions are done (or either side breaks)
        done, pending = await asyncio.wait(
            {to_host, to_client}, return_when=asyncio.FIRST_EXCEPTION
        )
        for t in pending:
            t.cancel()
    except (ConnectionError, OSError):
        pass
    finally:
        for fut in (upstream, client_ready):
            if fut.done() and not fut.cancelled() and fut.exception() is None:
                fut.result().close()


async def serve(
    targets: dict[str, tuple[str, int]], rtt_ms: float, host: str = "127.0.0.1"
) -> tuple[dict[str, int], list[asyncio.base_events.Server]]:
    """Start one listener per target on ``host`` (a free port each): ({name: port}, servers)."""
    ports, servers = {}, []
    for name, target in targets.items():

        async def handle(r, w, target=target):
            with contextlib.suppress(asyncio.CancelledError):  # the relay stopping
                await _handle(r, w, target, rtt_ms / 1000)

        server = await asyncio.start_server(handle, host, 0)
        servers.append(server)
        ports[name] = server.sockets[0].getsockname()[1]
    return ports, servers


def parse_target(text: str) -> tuple[str, tuple[str, int]]:
    """``NAME=ADDRESS:PORT`` -> (name, (address, port)), with an error naming what is wrong."""
    name, sep, rest = text.partition("=")
    addr, _, port = rest.rpartition(":")
    if not (sep and name and addr and port.isdigit() and 0 < int(port) < 65536):
        raise ValueError(
            f"relay target {text!r}: expected NAME=ADDRESS:PORT, e.g. bench-1=10.0.0.2:22"
        )
    return name, (addr, int(port))


async def _main(targets: dict[str, tuple[str, int]], rtt_ms: float) -> None:
    ports, _servers = await serve(targets, rtt_ms)
    print(json.dumps(ports), flush=True)
    loop = asyncio.get_running_loop()
    stop = loop.create_future()
    for sig in (signal.SIGTERM, signal.SIGINT):
        loop.add_signal_handler(sig, lambda: stop.done() or stop.set_result(None))
    # stdin closing (the bench exited without stopping us) ends the relay too
    loop.add_reader(sys.stdin.fileno(), lambda: stop.done() or stop.set_result(None))
    await stop


def main(argv: list[str] | None = None) -> int:
    p = argparse.ArgumentParser(prog="python -m bench.relay")
    p.add_argument("--rtt-ms", type=float, required=True, help="added round trip, ms (>= 0)")
    p.add_argument("targets", nargs="+", help="NAME=ADDRESS:PORT")
    args = p.parse_args(argv)
    if args.rtt_ms < 0:
        p.error(f"--rtt-ms: {args.rtt_ms} is negative; allowed: 0 or more milliseconds")
    try:
        targets = dict(parse_target(t) for t in args.targets)
    except ValueError as e:
        p.error(str(e))
    asyncio.run(_main(targets, args.rtt_ms))
    return 0


@contextlib.contextmanager
def running(targets: dict[str, tuple[str, int]], rtt_ms: float) -> Iterator[dict[str, int]]:
    """A relay process for ``targets`` with ``rtt_ms``; yields {name: port on 127.0.0.1}."""
    argv = [sys.executable, "-m", "bench.relay", "--rtt-ms", str(rtt_ms)]
    argv += [f"{n}={a}:{p}" for n, (a, p) in targets.items()]
    proc = subprocess.Popen(
        argv, stdin=subprocess.PIPE, stdout=subprocess.PIPE, text=True, cwd=str(REPO)
    )
    try:
        line = proc.stdout.readline()  # the ports, or EOF when it failed (its error on stderr)
        if not line:
            raise RuntimeError(f"bench relay did not start (exit {proc.wait()}): {argv}")
        yield {k: int(v) for k, v in json.loads(line).items()}
    finally:
        proc.terminate()
        try:
            proc.wait(timeout=10)
        except subprocess.TimeoutExpired:
            proc.kill()
            proc.wait()


if __name__ == "__main__":
    sys.exit(main())
