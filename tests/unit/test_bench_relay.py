"""The bench's latency relay (bench/relay.py) with real TCP servers on 127.0.0.1: the added round
trip is the configured one, each direction pays half of it, order is kept and the delay does not
limit throughput."""

from __future__ import annotations

import asyncio
import socket
import threading
import time

import pytest

from bench import relay

# asyncio timers on a loaded machine fire late, never early: the floors allow only clock
# granularity (EARLY_S). The ceilings tell the relay from one that pays a delay twice (or per
# chunk), and nothing finer: the unit tests run beside four labs coming up (load average 20+ on
# 2 cores), where an event loop wakes up to 0.4 s late. So the delays are long (1 s), "paid
# twice" is a whole delay above "paid once", and that delay is the tolerance.
EARLY_S = 0.003


async def _echo_server() -> tuple[asyncio.base_events.Server, int]:
    async def echo(r: asyncio.StreamReader, w: asyncio.StreamWriter) -> None:
        while data := await r.read(65536):
            w.write(data)
            await w.drain()
        w.close()

    server = await asyncio.start_server(echo, "127.0.0.1", 0)
    return server, server.sockets[0].getsockname()[1]


async def _through_relay(rtt_ms: float):
    server, port = await _echo_server()
    ports, servers = await relay.serve({"echo": ("127.0.0.1", port)}, rtt_ms)
    r, w = await asyncio.open_connection("127.0.0.1", ports["echo"])
    return server, servers, r, w


async def _round_trips(rtt_ms: float, n: int) -> tuple[float, list[float]]:
    loop = asyncio.get_running_loop()
    start = loop.time()  # before connecting: the relay starts its handshake delay on accept
    server, servers, r, w = await _through_relay(rtt_ms)
    times = []
    w.write(b"hello")
    await w.drain()
    assert await r.readexactly(5) == b"hello"
    first = loop.time() - start  # includes the connection's handshake round trip
    for i in range(n):
        msg = f"ping {i:04d}".encode()
        t0 = loop.time()
        w.write(msg)
        await w.drain()
        assert await r.readexactly(len(msg)) == msg
        times.append(loop.time() - t0)
    w.close()
    for s in [server, *servers]:
        s.close()
    return first, times


@pytest.mark.parametrize("rtt_ms", [600, 1000])
def test_round_trip_over_an_open_connection_costs_the_configured_rtt(rtt_ms):
    _, times = asyncio.run(_round_trips(rtt_ms, 2))
    rtt = rtt_ms / 1000
    assert min(times) >= rtt - EARLY_S, times
    assert min(times) < 2 * rtt, times  # a delay paid each way twice: 2 x rtt


def test_opening_a_connection_costs_one_more_round_trip():
    first, times = asyncio.run(_round_trips(1000, 1))
    assert first >= 2.0 - EARLY_S, first  # handshake + the first echo: two round trips
    assert first < 3.0, first  # three: the handshake paid twice
    assert min(times) < 2.0, times  # then one round trip per echo


def test_zero_rtt_relays_without_delay():
    first, times = asyncio.run(_round_trips(0, 20))
    assert min(times) < 0.02, times


def test_each_direction_pays_half_the_round_trip():
    """One-way times, on one clock (client and server in the same event loop). A 2 s round trip:
    half of it each way is 1 s, the whole of it 2 s, and a loaded machine's scheduling delay
    (0.5 s seen at load 30) stays inside the difference."""

    async def scenario():
        loop = asyncio.get_running_loop()
        got_at: asyncio.Future = loop.create_future()
        sent_at: list[float] = []

        async def server_side(r, w):
            w.write(b"x")  # greet at once, then wait for the client's message
            sent_at.append(loop.time())
            await w.drain()
            await r.readexactly(3)
            got_at.set_result(loop.time())
            w.close()

        server = await asyncio.start_server(server_side, "127.0.0.1", 0)
        port = server.sockets[0].getsockname()[1]
        ports, servers = await relay.serve({"s": ("127.0.0.1", port)}, 2000)
        r, w = await asyncio.open_connection("127.0.0.1", ports["s"])
        await r.readexactly(1)
        to_client = loop.time() - sent_at[0]
        t0 = loop.time()
        w.write(b"abc")
        await w.drain()
        to_server = await got_at - t0
        w.close()
        for s in [server, *servers]:
            s.close()
        return to_client, to_server

    to_client, to_server = asyncio.run(scenario())
    for one_way in (to_client, to_server):
        assert 1.0 - EARLY_S <= one_way < 2.0, (to_client, to_server)  # not the whole RTT


def test_order_is_kept_and_the_delay_does_not_limit_throughput():
    """200 chunks written 2 ms apart arrive in order, all within about rtt + the sending time
    (a relay that delayed each chunk after the previous one would need 200 x rtt: 20 s)."""

    async def scenario():
        server, servers, r, w = await _through_relay(100)
        loop = asyncio.get_running_loop()
        await asyncio.sleep(0.15)  # past the handshake
        chunks = [f"<{i:05d}>".encode() for i in range(200)]
        t0 = loop.time()
        for c in chunks:
            w.write(c)
            await w.drain()
            await asyncio.sleep(0.002)
        sending = loop.time() - t0
        data = await r.readexactly(sum(map(len, chunks)))
        took = loop.time() - t0
        w.close()
        for s in [server, *servers]:
            s.close()
        return chunks, data, sending, took

    chunks, data, sending, took = asyncio.run(scenario())
    assert data == b"".join(chunks)
    assert took >= 0.1 - EARLY_S
    assert took < sending + 2.0, (took, sending)  # 20 x rtt: far below 200 x rtt


def test_end_of_stream_reaches_the_other_side_after_the_data():
    async def scenario():
        server, servers, r, w = await _through_relay(40)
        w.write(b"last words")
        w.write_eof()
        data = await r.read()  # the echo server closes once it saw EOF
        for s in [server, *servers]:
            s.close()
        return data

    assert asyncio.run(scenario()) == b"last words"


def test_relay_process_relays_to_a_real_server_with_the_delay():
    """``running()``: the relay as its own process (what the bench starts), a threaded server."""
    lsock = socket.create_server(("127.0.0.1", 0))
    port = lsock.getsockname()[1]

    def serve_one():
        conn, _ = lsock.accept()
        with conn:
            while data := conn.recv(65536):
                conn.sendall(data)

    t = threading.Thread(target=serve_one, daemon=True)
    t.start()
    with relay.running({"h": ("127.0.0.1", port)}, 1000) as ports:
        with socket.create_connection(("127.0.0.1", ports["h"])) as c:
            c.sendall(b"a")
            assert c.recv(1) == b"a"
            times = []
            for _ in range(2):
                t0 = time.monotonic()
                c.sendall(b"b")
                assert c.recv(1) == b"b"
                times.append(time.monotonic() - t0)
    lsock.close()
    assert min(times) >= 1.0 - EARLY_S, times
    assert min(times) < 2.0, times  # a delay paid each way twice: 2 x rtt


@pytest.mark.parametrize("bad", ["bench-1", "bench-1=10.0.0.2", "=1.2.3.4:22", "h=a:99999"])
def test_a_bad_target_is_refused_naming_it(bad):
    with pytest.raises(ValueError, match="NAME=ADDRESS:PORT") as e:
        relay.parse_target(bad)
    assert repr(bad) in str(e.value)


def test_the_relay_process_refuses_a_negative_rtt(capsys):
    with pytest.raises(SystemExit):
        relay.main(["--rtt-ms", "-5", "h=127.0.0.1:22"])
    assert "-5.0 is negative" in capsys.readouterr().err
