"""TCP keepalive (tcp_keepalive) on the real proxy's sockets, as the kernel reports them (ss -o):
the client's connection and the backend connection both carry the keepalive timer configured,
so a peer that vanished without closing is dropped; disabled, neither does."""
import re
import subprocess

import pytest

import harness
from checks import wait_for


def proxy_sockets(proxy: harness.Proxy) -> list[str]:
    """The proxy process's established TCP sockets, one `ss -tnop` line each."""
    out = subprocess.run(["ss", "-tnopH", "state", "established"], capture_output=True,
                         text=True, check=True).stdout
    return [line for line in out.splitlines() if f"pid={proxy.process.pid}," in line]


def client_side(lines: list[str], proxy: harness.Proxy) -> list[str]:
    return [l for l in lines if re.search(rf"\s127\.0\.0\.1:{proxy.port}\s", l)]


def backend_side(lines: list[str], pg) -> list[str]:
    return [l for l in lines if re.search(rf"\s127\.0\.0\.1:{pg.port}\s", l)]


def keepalive_seconds(line: str) -> float | None:
    """The time left on the socket's keepalive timer ("6.9sec", "1min30sec", "115min"), or None
    when it has none."""
    m = re.search(r"timer:\(keepalive,([^,)]+)", line)
    if not m:
        return None
    scale = {"min": 60.0, "sec": 1.0, "ms": 0.001}
    parts = re.findall(r"([\d.]+)(min|sec|ms)", m.group(1))
    assert parts, line
    return sum(float(value) * scale[unit] for value, unit in parts)


@pytest.fixture
def start_proxy(pg):
    started = []

    def start(extra: str) -> harness.Proxy:
        px = harness.Proxy(pg, extra=extra)
        started.append(px)
        return px.start()

    yield start
    for px in started:
        px.stop()


def session_sockets(px: harness.Proxy, pg, user: str) -> list[str]:
    """With a session of `user` open and served, the proxy's sockets towards that client and
    towards PostgreSQL (both sides, as `ss` lines)."""
    conn = px.connect(user)
    try:
        with conn.cursor() as cur:
            cur.execute("SELECT count(*) FROM customers")
            assert cur.fetchone()[0] > 0
        def settled():
            lines = proxy_sockets(px)
            ours = client_side(lines, px) + backend_side(lines, pg)
            # Both sides there, and no bytes in flight: a socket with unacknowledged data shows
            # its retransmission timer ("timer:(on,...)") in place of the keepalive timer.
            quiet = client_side(lines, px) and backend_side(lines, pg) and \
                not any("timer:(on," in line for line in ours)
            return ours if quiet else None

        return wait_for(settled, what="the proxy's client and backend sockets, with no bytes "
                                      "in flight")
    finally:
        conn.close()


def test_client_and_backend_connections_carry_the_configured_keepalive(start_proxy, pg):
    px = start_proxy("tcp_keepalive: {idle_ms: 7000, interval_ms: 2000, count: 2}\n")
    for line in session_sockets(px, pg, "alice"):
        left = keepalive_seconds(line)
        # The idle time configured (7 s), counting down; never the kernel's default 2 hours.
        assert left is not None and 0 < left <= 7, line


def test_disabled_keepalive_leaves_the_sockets_without_it(start_proxy, pg):
    px = start_proxy("tcp_keepalive: {enabled: false}\n")
    for line in session_sockets(px, pg, "bob"):
        assert keepalive_seconds(line) is None, line
