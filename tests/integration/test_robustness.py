"""A hostile or broken client on raw sockets: malformed startup packets, absurd lengths, oversized
messages, disconnects mid-authentication. The proxy must refuse and close, and keep serving
everybody else."""
import os
import socket
import struct
import threading
import time

import pytest

import wire
from checks import run


def assert_refused_and_closed(conn: wire.Conn, what: str) -> list:
    """The proxy answers with at most an ErrorResponse and closes the connection."""
    try:
        messages = conn.read_until_closed()
    except TimeoutError:
        pytest.fail(f"{what}: the proxy kept the connection open (no close within "
                    f"{conn.timeout} s)", pytrace=False)
    except ValueError as e:  # not even a well-formed message
        pytest.fail(f"{what}: malformed answer: {e}", pytrace=False)
    tags = [t for t, _ in messages]
    assert set(tags) <= {b"E"} and len(tags) <= 1, f"{what}: answered {messages!r}"
    return [wire.parse_error(p) for _, p in messages]


def assert_still_serving(proxy, what: str) -> None:
    assert proxy.alive(), f"tenantwall died after {what}:\n{proxy.output[-4000:]}"
    conn = proxy.connect("alice")
    try:
        _, rows = run(conn, "SELECT count(*) FROM customers")
        assert rows == [(3,)], f"after {what}: {rows}"
    finally:
        conn.close()


def send_raw(proxy, data: bytes, timeout=5.0) -> wire.Conn:
    conn = wire.Conn("127.0.0.1", proxy.port, timeout=timeout)
    try:
        conn.send(data)
    except (BrokenPipeError, ConnectionResetError):
        pass
    return conn


GARBAGE = {
    "http": b"GET / HTTP/1.1\r\nHost: localhost\r\n\r\n",
    "random": bytes(range(7, 71)),
    "zero-length": struct.pack("!I", 0),
    "length-below-minimum": struct.pack("!I", 4),
    "length-7": struct.pack("!I", 7) + b"abc",
    "unknown-protocol": struct.pack("!II", 8, 0x00020000),
    "protocol-4": struct.pack("!II", 8, 0x00040000),
    "no-parameters": struct.pack("!II", 8, wire.PROTOCOL_3),
    "no-user": struct.pack("!II", 8 + 14, wire.PROTOCOL_3) + b"database\0app\0\0",
    "unterminated": struct.pack("!II", 8 + 10, wire.PROTOCOL_3) + b"user\0alice",
    "value-missing": struct.pack("!II", 8 + 6, wire.PROTOCOL_3) + b"user\0\0",
    "negative-length": struct.pack("!i", -1) + b"x" * 8,
}


@pytest.mark.parametrize("name", list(GARBAGE))
def test_garbage_instead_of_startup(proxy, name):
    conn = send_raw(proxy, GARBAGE[name])
    with conn:
        errors = assert_refused_and_closed(conn, f"startup {name} {GARBAGE[name][:24]!r}")
    for e in errors:
        assert e.fields.get("S") in ("FATAL", "ERROR"), str(e)
    assert_still_serving(proxy, f"garbage startup {name}")


def test_random_bytes_fuzz(proxy):
    rng_seeds = [os.urandom(256) for _ in range(20)]
    for i, data in enumerate(rng_seeds):
        with send_raw(proxy, data) as conn:
            assert_refused_and_closed(conn, f"random startup #{i} {data[:16].hex()}")
    assert_still_serving(proxy, "20 random-byte startups")


@pytest.mark.parametrize("length", [2 ** 31 - 1, 2 ** 30, 10_001, 100_000_000])
def test_huge_startup_length_refused(proxy, length):
    """The proxy must refuse on the length alone, not wait for (or allocate) the body."""
    start = time.monotonic()
    with send_raw(proxy, struct.pack("!II", length, wire.PROTOCOL_3) + b"user\0alice\0") as conn:
        assert_refused_and_closed(conn, f"startup length {length}")
    assert time.monotonic() - start < 5, f"startup length {length}: slow refusal"
    assert_still_serving(proxy, f"startup length {length}")


def login(proxy, user="alice") -> wire.Conn:
    conn = wire.Conn("127.0.0.1", proxy.port)
    wire.scram_login(conn, user, {"alice": "alice-secret", "bob": "bob-secret"}[user])
    return conn


def test_oversized_message_after_auth(proxy):
    with login(proxy) as conn:
        conn.send(b"Q" + struct.pack("!I", 100 * 1024 * 1024))  # 100 MiB announced, nothing sent
        try:
            messages = conn.read_until_closed()
        except TimeoutError:
            pytest.fail("oversized Query: no answer and no close within 10 s: the proxy is "
                        "waiting for 100 MiB", pytrace=False)
        errors = [wire.parse_error(p) for t, p in messages if t == b"E"]
        assert errors and errors[0].code == "08P01", f"oversized message: answered {messages!r}"
    assert_still_serving(proxy, "an oversized message")


def test_message_length_below_four_after_auth(proxy):
    with login(proxy) as conn:
        conn.send(b"Q" + struct.pack("!I", 2))
        messages = conn.read_until_closed()
        errors = [wire.parse_error(p) for t, p in messages if t == b"E"]
        assert errors and errors[0].code == "08P01", f"length 2: answered {messages!r}"
    assert_still_serving(proxy, "a message with length 2")


def test_unknown_message_type_after_auth(proxy):
    with login(proxy) as conn:
        conn.send(wire.message(b"!", b"hello"))
        messages = conn.read_until_closed()
        errors = [wire.parse_error(p) for t, p in messages if t == b"E"]
        assert errors and errors[0].code == "08P01", f"unknown message '!': answered {messages!r}"
    assert_still_serving(proxy, "an unknown message type")


def test_function_call_message_refused(proxy):
    """The FunctionCall message ('F') would call any function by OID, past the SQL analyser."""
    with login(proxy) as conn:
        # FunctionCall: oid of pg_sleep (2626), no format codes, one argument, result format text
        payload = struct.pack("!IhhI", 2626, 0, 1, 1) + b"1" + struct.pack("!h", 0)
        conn.send(wire.message(b"F", payload))
        messages = []
        try:
            messages = conn.read_until(b"Z")
        except wire.Closed:
            pass
        tags = [t for t, _ in messages]
        assert b"V" not in tags, f"FunctionCall was executed: {messages!r}"
        errors = [wire.parse_error(p) for t, p in messages if t == b"E"]
        assert not messages or errors, f"FunctionCall: {messages!r}"
        if errors:
            assert errors[0].code in ("42501", "0A000", "08P01"), str(errors[0])
    assert_still_serving(proxy, "a FunctionCall message")


def test_query_after_terminate_is_not_run(proxy):
    with login(proxy) as conn:
        conn.send(wire.message(b"X") + wire.query_message("SELECT 1"))
        messages = conn.read_until_closed()
        assert not messages, f"after Terminate the proxy answered {messages!r}"


def test_disconnect_mid_authentication(proxy):
    """Clients vanishing at each step of SCRAM do not disturb an established session."""
    established = proxy.connect("bob")
    try:
        for stop in ("sasl", "first"):
            for _ in range(5):
                conn = wire.Conn("127.0.0.1", proxy.port)
                wire.scram_login(conn, "alice", "alice-secret", stop_after=stop)
                conn.sock.setsockopt(socket.SOL_SOCKET, socket.SO_LINGER, struct.pack("ii", 1, 0))
                conn.close()  # RST
        with wire.Conn("127.0.0.1", proxy.port) as conn:
            conn.send(wire.startup_packet("alice")[:10])  # half a startup packet, then gone
        _, rows = run(established, "SELECT count(*) FROM customers")
        assert rows == [(2,)], f"established session after aborted logins: {rows}"
    finally:
        established.close()
    assert_still_serving(proxy, "clients disconnecting mid-authentication")


def test_idle_connections_do_not_block_logins(proxy):
    """Connections that never finish a startup packet must not hold up other clients."""
    idle = []
    try:
        for _ in range(30):
            c = wire.Conn("127.0.0.1", proxy.port)
            c.send(b"\x00\x00")  # two bytes of a length, then silence
            idle.append(c)
        start = time.monotonic()
        assert_still_serving(proxy, "30 idle half-open connections")
        assert time.monotonic() - start < 5, "logins are slow while idle connections are open"
    finally:
        for c in idle:
            c.close()


def test_disconnect_mid_query(proxy):
    """A client that sends a query and vanishes before reading the answer."""
    for _ in range(5):
        conn = login(proxy)
        conn.send(wire.query_message("SELECT * FROM customers, orders, orders o2, orders o3"))
        conn.close()
    assert_still_serving(proxy, "clients disconnecting mid-query")


def test_concurrent_sessions_stay_isolated(proxy, world):
    """Many sessions of both tenants in parallel: every answer is the session's own tenant."""
    failures = []

    def worker(user, tenant):
        try:
            conn = proxy.connect(user)
            try:
                for _ in range(10):
                    _, rows = run(conn, "SELECT tenant_id, name FROM customers")
                    if {r[0] for r in rows} != {tenant} or len(rows) != len(world.customers_of(tenant)):
                        failures.append((user, rows))
            finally:
                conn.close()
        except Exception as e:  # noqa: BLE001 - reported below
            failures.append((user, repr(e)))

    threads = [threading.Thread(target=worker, args=(u, t))
               for u, t in [("alice", "acme"), ("bob", "globex"), ("carol", "acme")] * 5]
    for t in threads:
        t.start()
    for t in threads:
        t.join(60)
    assert not failures, f"concurrent sessions: {failures[:5]}"


def test_cancel_request_with_bogus_key(proxy):
    with send_raw(proxy, struct.pack("!IIII", 16, wire.CANCEL_REQUEST, 12345, 67890)) as conn:
        assert conn.is_closed(), "CancelRequest: connection not closed"
    assert_still_serving(proxy, "a bogus CancelRequest")


def test_proxy_still_alive(proxy):
    assert proxy.process.poll() is None, f"tenantwall exited:\n{proxy.output[-4000:]}"
