"""The admin HTTP endpoint: probes, Prometheus metrics that move with traffic, the running policy,
and the authenticated reload (proxy/admin_server.h)."""
import http.client
import json
import re
import socket
import time

import psycopg2
import pytest

import harness
from checks import audit_events, wait_for

ADMIN_RE = re.compile(r"admin listening on ([0-9.]+):(\d+)")
TOKEN = "admin-test-token-0123456789"


class AdminProxy(harness.Proxy):
    """A proxy with the admin port enabled (port 0), an optional token file and an audit log."""

    admin_token: str | None = None
    backend_port: int | None = None  # to point the proxy at a dead PostgreSQL

    def config_text(self):
        text = super().config_text()
        if self.backend_port is not None:
            text = text.replace(f"  port: {self.pg.port}\n", f"  port: {self.backend_port}\n", 1)
        text += "audit:\n  path: audit.jsonl\n"
        text += "admin:\n  listen_host: 127.0.0.1\n  port: 0\n"
        if self.admin_token is not None:
            (self.tmp / "admin.token").write_text(self.admin_token + "\n")
            text += "  token_file: admin.token\n"
        return text

    def admin_port(self) -> int:
        deadline = time.monotonic() + 10
        while time.monotonic() < deadline:
            m = ADMIN_RE.search(self.output)
            if m:
                return int(m.group(2))
            time.sleep(0.05)
        raise harness.HarnessError(f"no 'admin listening on' line:\n{self.output}")

    def audit_events(self) -> list[dict]:
        return audit_events(self.tmp / "audit.jsonl")


def start_admin_proxy(pg, token=None, backend_port=None) -> AdminProxy:
    px = AdminProxy(pg)
    px.admin_token = token
    px.backend_port = backend_port
    return px.start()


@pytest.fixture(scope="module")
def admin_proxy(pg):
    px = start_admin_proxy(pg, token=TOKEN)
    yield px
    px.stop()


def request(px, method, path, headers=None, body=None):
    conn = http.client.HTTPConnection("127.0.0.1", px.admin_port(), timeout=10)
    try:
        conn.request(method, path, body=body, headers=headers or {})
        r = conn.getresponse()
        return r.status, dict(r.getheaders()), r.read().decode()
    finally:
        conn.close()


def metrics(px) -> dict[str, float]:
    status, headers, body = request(px, "GET", "/metrics")
    assert status == 200, body
    assert headers["Content-Type"].startswith("text/plain; version=0.0.4")
    out = {}
    for line in body.splitlines():
        if line and not line.startswith("#"):
            name, value = line.rsplit(" ", 1)
            out[name] = float(value)
    return out


def policy_json(px) -> dict:
    status, headers, body = request(px, "GET", "/policy")
    assert status == 200, body
    assert headers["Content-Type"] == "application/json"
    return json.loads(body)




def test_healthz_and_readyz(admin_proxy):
    assert request(admin_proxy, "GET", "/healthz")[::2] == (200, "ok\n")
    assert request(admin_proxy, "GET", "/readyz")[::2] == (200, "ready\n")


def test_readyz_reports_an_unreachable_backend(pg):
    px = start_admin_proxy(pg, backend_port=harness.free_port())
    try:
        status, _, body = request(px, "GET", "/readyz")
        assert status == 503, body
        assert "PostgreSQL is unreachable" in body
        assert request(px, "GET", "/healthz")[0] == 200
    finally:
        px.stop()


def test_metrics_move_with_traffic(admin_proxy):
    allow = 'tenantwall_statements_total{decision="allow"}'
    deny = 'tenantwall_statements_total{decision="deny"}'
    refused = 'tenantwall_refusals_total{sqlstate="42501"}'
    select = 'tenantwall_statement_kinds_total{kind="SELECT"}'
    auth_ok = 'tenantwall_authentications_total{result="ok"}'
    auth_fail = 'tenantwall_authentications_total{result="fail"}'
    before = metrics(admin_proxy)

    conn = admin_proxy.connect("alice")
    during = metrics(admin_proxy)
    assert during["tenantwall_client_connections"] == before["tenantwall_client_connections"] + 1
    assert during["tenantwall_backend_connections"] == before["tenantwall_backend_connections"] + 1
    with conn.cursor() as cur:
        cur.execute("SELECT name FROM customers ORDER BY id")
        assert len(cur.fetchall()) == 3
        with pytest.raises(psycopg2.Error) as refusal:
            cur.execute("SELECT * FROM internal_audit")
        assert refusal.value.pgcode == "42501"
    conn.close()
    with pytest.raises(psycopg2.OperationalError):
        admin_proxy.connect("alice", "wrong-password")

    wait_for(lambda: metrics(admin_proxy)["tenantwall_client_connections"]
             == before["tenantwall_client_connections"], "the session to end", timeout=5)
    after = metrics(admin_proxy)
    assert after[allow] >= before.get(allow, 0) + 1
    assert after[select] >= before.get(select, 0) + 1
    assert after[deny] == before.get(deny, 0) + 1
    assert after[refused] == before.get(refused, 0) + 1
    assert after[auth_ok] == before[auth_ok] + 1
    assert after[auth_fail] == before[auth_fail] + 1
    assert after["tenantwall_client_connections_total"] == before["tenantwall_client_connections_total"] + 2
    assert after["tenantwall_backend_connections"] == before["tenantwall_backend_connections"]
    assert (after["tenantwall_decision_duration_seconds_count"]
            == before["tenantwall_decision_duration_seconds_count"] + 2)
    assert (after["tenantwall_decision_cache_hits_total"] + after["tenantwall_decision_cache_misses_total"]
            >= before["tenantwall_decision_cache_hits_total"] + before["tenantwall_decision_cache_misses_total"] + 2)
    assert after["tenantwall_policy_version"] == policy_json(admin_proxy)["version"]
    assert after["tenantwall_audit_healthy"] == 1


def test_policy_json(admin_proxy):
    p = policy_json(admin_proxy)
    assert p["version"] >= 1
    assert re.fullmatch(r"[0-9a-f]{64}", p["sha256"])
    assert p["source"] == str(harness.DEFAULT_POLICY.resolve())
    assert re.fullmatch(r"\d{4}-\d\d-\d\dT\d\d:\d\d:\d\dZ", p["loaded_at"])
    assert p["last_error"] is None


def test_reload_needs_the_token(admin_proxy):
    version = policy_json(admin_proxy)["version"]
    status, headers, body = request(admin_proxy, "POST", "/reload")
    assert status == 401, body
    assert headers["WWW-Authenticate"].startswith("Bearer")
    for wrong in ("Bearer wrong", f"Bearer {TOKEN}x", f"Basic {TOKEN}", TOKEN):
        status, _, body = request(admin_proxy, "POST", "/reload", {"Authorization": wrong})
        assert status == 401, (wrong, body)
    assert policy_json(admin_proxy)["version"] == version

    reloads = 'tenantwall_policy_reloads_total{result="ok"}'
    before = metrics(admin_proxy)[reloads]
    status, _, body = request(admin_proxy, "POST", "/reload", {"Authorization": f"Bearer {TOKEN}"})
    assert status == 200, body
    answer = json.loads(body)
    assert answer["ok"] is True and answer["error"] is None
    assert answer["version"] > version
    assert policy_json(admin_proxy)["version"] == answer["version"]
    assert metrics(admin_proxy)[reloads] == before + 1
    # The log is read from the proxy's pipe by a thread: wait for the line, do not race it.
    wait_for(lambda: "policy reloaded (admin 127.0.0.1:" in admin_proxy.output,
             "the reload in the proxy's log", timeout=5)

    # Every attempt is in the audit log as an admin event.
    def audited():
        kinds = [(e["kind"], e["decision"]) for e in admin_proxy.audit_events()]
        return kinds.count(("admin", "deny")) >= 5 and ("admin", "ok") in kinds
    wait_for(audited, "the admin events in the audit log", timeout=5)


def test_reload_is_forbidden_without_a_configured_token(pg):
    px = start_admin_proxy(pg, token=None)
    try:
        status, _, body = request(px, "POST", "/reload", {"Authorization": "Bearer anything"})
        assert status == 403, body
        assert "disabled" in body
        assert "no token: POST /reload disabled" in px.output
    finally:
        px.stop()


def test_unknown_paths_and_wrong_methods(admin_proxy):
    assert request(admin_proxy, "GET", "/nope")[0] == 404
    status, headers, _ = request(admin_proxy, "POST", "/healthz", body="x")
    assert status == 405 and headers["Allow"] == "GET"
    status, headers, _ = request(admin_proxy, "GET", "/reload")
    assert status == 405 and headers["Allow"] == "POST"
    assert request(admin_proxy, "GET", "/metrics?debug=1")[0] == 200


def test_oversized_and_slow_requests_are_cut_off(admin_proxy):
    port = admin_proxy.admin_port()
    with socket.create_connection(("127.0.0.1", port), timeout=10) as s:
        s.sendall(b"GET /healthz HTTP/1.1\r\nX-Big: " + b"a" * 10000 + b"\r\n\r\n")
        assert s.recv(100).startswith(b"HTTP/1.1 431 ")
    with socket.create_connection(("127.0.0.1", port), timeout=15) as s:
        started = time.monotonic()
        s.sendall(b"GET /healthz HTTP/1.1\r\n")  # and never the rest
        assert s.recv(100) == b""
        assert time.monotonic() - started < 10
    # The endpoint still serves.
    assert request(admin_proxy, "GET", "/healthz")[0] == 200
