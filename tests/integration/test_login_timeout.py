"""limits.login_timeout_ms on the real proxy: a client that connects and stalls before it is
authenticated (silent, dribbling its start-up packet, or stopping halfway through SCRAM) is
closed at the deadline, told why once it has sent a start-up packet, audited, and frees its
connection slot; an authenticated session is not touched by the deadline."""
import time

import pytest

import admin_helpers
import wire
from checks import run, wait_for

TIMEOUT_MS = 1000
TIMEOUTS = "tenantwall_login_timeouts_total"


@pytest.fixture
def start_proxy(pg):
    started = []

    def start(**limits) -> admin_helpers.AdminProxy:
        px = admin_helpers.start(pg, limits={"login_timeout_ms": TIMEOUT_MS, **limits})
        started.append(px)
        return px

    yield start
    for px in started:
        alive, output = px.alive(), px.output
        px.stop()
        assert alive, f"tenantwall died during the test; its log:\n{output[-8000:]}"


def closed_after(conn: wire.Conn, started: float) -> tuple[list, float]:
    """The messages the proxy sent before closing, and how long after `started` it closed."""
    messages = conn.read_until_closed()
    return messages, time.monotonic() - started


def assert_near_deadline(elapsed: float, what: str) -> None:
    # Not before the deadline, and well before the client's own 10 s read timeout.
    assert TIMEOUT_MS / 1000 * 0.9 <= elapsed < TIMEOUT_MS / 1000 + 4, f"{what}: closed after {elapsed:.2f} s"


def test_silent_client_is_closed_without_a_word(start_proxy):
    px = start_proxy()
    started = time.monotonic()
    with wire.Conn("127.0.0.1", px.port) as conn:
        messages, elapsed = closed_after(conn, started)
    assert messages == [], f"before any start-up packet the proxy answered {messages!r}"
    assert_near_deadline(elapsed, "a client that sent nothing")
    wait_for(lambda: f"no start-up packet within {TIMEOUT_MS} ms" in px.output,
             "the proxy's log line on the closed connection")
    assert px.metrics(TIMEOUTS) == {TIMEOUTS: 1.0}


def test_dribbled_startup_packet_is_cut_off(start_proxy):
    """One byte every 200 ms: each byte arrives before any per-read timeout would fire, and the
    packet is still unfinished at the deadline."""
    px = start_proxy()
    packet = wire.startup_packet("alice")
    started = time.monotonic()
    conn = wire.Conn("127.0.0.1", px.port)
    try:
        sent = 0
        while sent < len(packet) and time.monotonic() - started < TIMEOUT_MS / 1000 + 4:
            try:
                conn.send(packet[sent:sent + 1])
            except (BrokenPipeError, ConnectionResetError):
                break
            sent += 1
            time.sleep(0.2)
        assert sent < len(packet), "the whole packet went through: dribble slower"
        messages, elapsed = closed_after(conn, started)
    finally:
        conn.close()
    assert messages == [], messages
    assert_near_deadline(elapsed, "a dribbled start-up packet")


@pytest.mark.parametrize("stop", ["sasl", "first"])
def test_stalled_scram_gets_57014_and_an_audit_event(start_proxy, stop):
    px = start_proxy()
    started = time.monotonic()
    with wire.Conn("127.0.0.1", px.port) as conn:
        wire.scram_login(conn, "alice", "alice-secret", stop_after=stop)
        messages, elapsed = closed_after(conn, started)
    assert [t for t, _ in messages] == [b"E"], messages
    error = wire.parse_error(messages[0][1])
    assert (error.fields.get("S"), error.code, error.fields.get("M")) == (
        "FATAL", "57014", "canceling authentication due to timeout"), error
    assert_near_deadline(elapsed, f"SCRAM stopped after {stop}")
    events = wait_for(lambda: [e for e in px.audit_events() if e.get("kind") == "auth"],
                      "the audit event of the timed-out login")
    assert [(e["decision"], e.get("user"), e.get("sqlstate")) for e in events] == [
        ("fail", "alice", "57014")], events
    assert "login_timeout_ms" in events[0].get("reason", ""), events[0]
    assert px.metrics(TIMEOUTS) == {TIMEOUTS: 1.0}
    assert px.metrics('tenantwall_authentications_total{result="fail"}') == {
        'tenantwall_authentications_total{result="fail"}': 1.0}


def test_authenticated_session_outlives_the_deadline(start_proxy):
    px = start_proxy()
    conn = px.connect("alice")
    try:
        time.sleep(TIMEOUT_MS / 1000 * 2.5)
        _, rows = run(conn, "SELECT count(*) FROM customers")
        assert rows == [(3,)], rows
    finally:
        conn.close()
    # A login that takes a while but finishes in time is not cut off either.
    with wire.Conn("127.0.0.1", px.port) as raw:
        raw.send(wire.startup_packet("bob")[:9])
        time.sleep(TIMEOUT_MS / 1000 * 0.4)
        raw.send(wire.startup_packet("bob")[9:])
        tag, _ = raw.read()
        assert tag == b"R", tag
        raw.sock.close()
    bob = px.connect("bob")
    bob.close()
    assert "timed out" not in px.output and "no start-up packet" not in px.output, px.output[-3000:]
    assert px.metrics(TIMEOUTS) == {TIMEOUTS: 0.0}


def test_stalled_clients_free_their_connection_slots(start_proxy):
    """With every slot held by clients that connect and say nothing, new clients are refused
    (53300) only until the deadline closes the silent ones."""
    px = start_proxy(max_connections=3)
    silent = [wire.Conn("127.0.0.1", px.port) for _ in range(3)]
    try:
        time.sleep(0.2)  # the proxy has accepted all three
        with wire.Conn("127.0.0.1", px.port) as extra:
            extra.send(wire.startup_packet("alice"))
            messages = extra.read_until_closed()
        errors = [wire.parse_error(p) for t, p in messages if t == b"E"]
        assert [e.code for e in errors] == ["53300"], messages
        for conn in silent:
            assert conn.read_until_closed() == []
        # The proxy counts a slot free once the session has ended, just after the close.
        deadline = time.monotonic() + 5
        while True:
            try:
                conn = px.connect("alice")
                break
            except Exception:  # noqa: BLE001 - 53300 until the sessions are gone
                if time.monotonic() > deadline:
                    raise
                time.sleep(0.1)
        try:
            _, rows = run(conn, "SELECT count(*) FROM customers")
            assert rows == [(3,)], rows
        finally:
            conn.close()
    finally:
        for conn in silent:
            conn.close()
