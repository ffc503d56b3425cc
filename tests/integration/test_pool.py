"""The backend pool (pool.mode: session) with the real proxy and the real PostgreSQL: backends are
reused, nothing a client leaves behind reaches the next client (of another tenant) on the same
backend, clients that vanish mid-COPY or mid-query do not poison the pool, cancel keys follow
the session, and bad pool settings are refused at load (transaction mode:
test_pool_transaction.py)."""
import subprocess
import threading
import time
from dataclasses import dataclass

import psycopg2
import pytest

import admin_helpers
import harness
from checks import wait_for
import wire
from test_protocol_exact import SYNC, Session, bind, execute, parse, send_cancel

SERVICE_ROLE = harness.SERVICE_ROLE


@dataclass
class PoolProxy(harness.Proxy):
    """harness.Proxy with a `pool` section appended to its configuration."""
    pool: str = "mode: session\n  size: 1"
    OWN_POOL = True

    def config_text(self) -> str:
        return super().config_text() + f"pool:\n  {self.pool}\n"


@pytest.fixture
def pool_proxy(pg):
    started = []

    def start(pool: str = "mode: session\n  size: 1", extra: str = "") -> PoolProxy:
        px = PoolProxy(pg, pool=pool, extra=extra)
        started.append(px)
        return px.start()

    yield start
    for px in started:
        px.stop()


def service_pids(pg) -> set[int]:
    return {r[0] for r in pg.query(
        "SELECT pid FROM pg_stat_activity WHERE usename = %s AND backend_type = 'client backend' "
        f"AND {harness.NOT_PROXY_SERVICE}",
        (SERVICE_ROLE,))}




def reset_done(pg, pid: int) -> bool:
    return bool(pg.query("SELECT 1 FROM pg_stat_activity WHERE pid = %s AND state = 'idle' "
                         "AND query = 'DISCARD ALL'", (pid,)))


def begin_with_write(session: Session, name: str) -> None:
    """BEGIN and an INSERT of a customer called `name`, left uncommitted."""
    deadline = time.monotonic() + 15
    while True:
        assert session.query("BEGIN").ready == "T"
        r = session.query(f"INSERT INTO customers (name) VALUES ('{name}')")
        if r.codes != ["55000"]:  # 55000: the proxy has not read the foreign keys yet
            break
        assert time.monotonic() < deadline, "writes stayed refused"
        session.query("ROLLBACK")
        time.sleep(0.2)
    assert r.codes == [] and r.ready == "T", str(r)


def backend_of(pg, session: Session) -> int:
    """The PostgreSQL pid serving a raw session, found by a unique query text."""
    marker = f"tw_pool_probe_{time.monotonic_ns()}"
    r = session.query(f"SELECT '{marker}' AS probe")
    assert r.tags == "TDCZ", str(r)
    pids = [row[0] for row in pg.query(
        "SELECT pid FROM pg_stat_activity WHERE usename = %s AND query LIKE %s",
        (SERVICE_ROLE, f"%{marker}%"))]
    assert len(pids) == 1, pids
    return pids[0]


def test_sequential_clients_share_one_backend(pg, pool_proxy):
    before = service_pids(pg)
    px = pool_proxy("mode: session\n  size: 4")
    seen = set()
    for i in range(6):
        user = ("alice", "bob")[i % 2]
        with Session(px, user) as s:
            pid = backend_of(pg, s)
            seen.add(pid)
            assert s.query("SELECT count(*) FROM customers").rows() == [
                (3,) if user == "alice" else (2,)]
        # The reset runs after the client has gone; the next client comes once it is done.
        wait_for(lambda: reset_done(pg, pid), "the reset of the backend")
        time.sleep(0.2)
    assert len(seen) == 1, f"six sequential clients used backends {seen}"
    # The one backend stays open, idle in the pool, and is the only one this proxy opened.
    new = wait_for(lambda: service_pids(pg) - before, "the pooled backend")
    assert new == seen
    # Clients with different startup parameters never share a backend (RESET ALL would bring
    # back the other client's application_name).
    conn = psycopg2.connect(host="127.0.0.1", port=px.port, dbname="app", user="alice",
                            password=harness.USERS["alice"][0], sslmode="disable",
                            application_name="pool-test")
    try:
        cur = conn.cursor()
        cur.execute("SHOW application_name")
        assert cur.fetchall() == [("pool-test",)]
        assert len(service_pids(pg) - before) == 2
    finally:
        conn.close()


def test_no_session_state_crosses_clients(pg, pool_proxy, unchanged):
    px = pool_proxy()  # size 1: the second client must get the first client's backend
    alice = Session(px, "alice")
    backend = backend_of(pg, alice)
    [(timezone,)] = alice.query("SHOW TimeZone").rows()
    assert timezone != "Asia/Tokyo"
    setup = [
        "PREPARE leak_p AS SELECT name FROM customers",
        "SET statement_timeout = '4321ms'",
        "SET application_name = 'alice-was-here'",
        "SET TimeZone = 'Asia/Tokyo'",
        "DECLARE leak_c CURSOR WITH HOLD FOR SELECT name FROM customers",
    ]
    for sql in setup:
        r = alice.query(sql)
        assert r.codes == [] and r.ready == "I", f"{sql}: {r}"
    r = alice.run(parse("leak_s", "SELECT name FROM customers"), SYNC)
    assert r.tags == "1Z", str(r)
    # Temporary tables, advisory locks and LISTEN are refused to tenants altogether.
    for sql in ("CREATE TEMP TABLE leak_t (a int)", "SELECT pg_advisory_lock(4242)", "LISTEN leak"):
        assert alice.query(sql).codes == ["42501"], sql
    # A transaction left open with a write in it, then the client vanishes.
    begin_with_write(alice, "pool-ghost")
    alice.close()

    bob = Session(px, "bob")
    assert backend_of(pg, bob) == backend, "the pool did not reuse the backend"
    assert pg.query("SELECT count(*) FROM customers WHERE name = 'pool-ghost'") == [(0,)]
    assert bob.query("SHOW statement_timeout").rows() == [("0",)]
    assert bob.query("SHOW application_name").rows() == [("",)]
    assert bob.query("SHOW TimeZone").rows() == [(timezone,)]
    assert bob.query("EXECUTE leak_p").codes == ["26000"]
    assert bob.query("FETCH 1 FROM leak_c").codes == ["34000"]
    # The same names are free at the backend: they would be duplicates (42P05, 42P03) otherwise.
    r = bob.query("PREPARE leak_p AS SELECT name FROM customers")
    assert r.codes == [], str(r)
    assert bob.query("EXECUTE leak_p").rows() == [("Gina Grant",), ("Gus Gold",)]
    r = bob.run(parse("leak_s", "SELECT name FROM customers ORDER BY id"), bind("", "leak_s"),
                execute(), SYNC)
    assert r.tags == "12DDCZ", str(r)
    assert [row[0] for row in r.rows()] == ["Gina Grant", "Gus Gold"]
    r = bob.query("BEGIN")
    assert bob.query("DECLARE leak_c CURSOR WITH HOLD FOR SELECT name FROM customers").codes == []
    assert bob.query("COMMIT").ready == "I"
    bob.close()
    unchanged("a pooled client's uncommitted INSERT")


def test_startup_parameter_status_after_reuse(pg, pool_proxy):
    px = pool_proxy()
    conn = px.connect("alice")
    first = {k: conn.get_parameter_status(k) for k in ("TimeZone", "DateStyle", "session_authorization")}
    cur = conn.cursor()
    cur.execute("SET TimeZone = 'Asia/Tokyo'")
    cur.execute("SET DateStyle = 'German'")
    assert conn.get_parameter_status("TimeZone") == "Asia/Tokyo"
    conn.close()
    conn = px.connect("bob")
    try:
        again = {k: conn.get_parameter_status(k) for k in ("TimeZone", "DateStyle")}
        assert again == {"TimeZone": first["TimeZone"], "DateStyle": first["DateStyle"]}
        assert first["session_authorization"] == "alice"
        assert conn.get_parameter_status("session_authorization") == "bob"
    finally:
        conn.close()


def test_client_vanishing_mid_copy_does_not_poison_the_pool(pg, pool_proxy, unchanged):
    px = pool_proxy()
    s = Session(px, "carol")  # acme's writer
    backend = backend_of(pg, s)
    deadline = time.monotonic() + 15
    while True:
        s.send(wire.query_message("COPY customers (name, email) FROM STDIN"))
        tag, payload = s.conn.read()
        if tag == b"G":
            break
        # 55000 until the proxy has read the foreign keys (start-up); anything else fails.
        assert tag == b"E" and wire.parse_error(payload).code == "55000", (tag, payload)
        assert time.monotonic() < deadline, "writes stayed refused"
        s.conn.read_until(b"Z")
        time.sleep(0.2)
    s.send(wire.message(b"d", b"copy-ghost\t\\N\n"))
    s.conn.close()  # no CopyDone, no Terminate
    wait_for(lambda: backend not in service_pids(pg), "the mid-COPY backend to close")
    with Session(px, "bob") as bob:
        assert backend_of(pg, bob) != backend
        bob.assert_alive("a pooled backend left mid-COPY by another client")
    assert pg.query("SELECT count(*) FROM customers WHERE name = 'copy-ghost'") == [(0,)]
    unchanged("a COPY whose client vanished")


def test_client_vanishing_mid_query_does_not_poison_the_pool(pg, pool_proxy):
    px = pool_proxy()
    s = Session(px, "alice")
    backend = backend_of(pg, s)
    s.send(wire.query_message("SELECT count(*) FROM generate_series(1, 3000000)"))
    time.sleep(0.1)
    s.conn.close()
    # size 1: bob waits for the slot (the query finishes, then the backend is closed, not reused).
    with Session(px, "bob", timeout=20) as bob:
        assert backend_of(pg, bob) != backend
        bob.assert_alive("a pooled backend left mid-query by another client")
    wait_for(lambda: backend not in service_pids(pg), "the mid-query backend to close")
    # A client that leaves after a protocol-level fatal error does not return its backend either.
    s = Session(px, "alice")
    backend = backend_of(pg, s)
    s.send(wire.message(b"Y"))  # not a frontend message: 08P01, session ends
    s.conn.read_until_closed()
    wait_for(lambda: backend not in service_pids(pg), "the backend of a failed session to close")
    # An extended-protocol batch without Sync is not committed by a reset: the backend is closed.
    s = Session(px, "alice")
    backend = backend_of(pg, s)
    s.send(parse("", "SELECT 1"), bind(), execute(), wire.message(b"H"))
    assert [t for t, _ in s.conn.read_until(b"C")] == [b"1", b"2", b"D", b"C"]
    s.close()
    wait_for(lambda: backend not in service_pids(pg), "the unsynced backend to close")
    with Session(px, "bob") as bob:
        bob.assert_alive("three poisoned sessions")


def test_cancel_reaches_the_pooled_backend_of_its_session_only(pg, pool_proxy):
    px = pool_proxy()
    first = Session(px, "alice")
    old_pid, old_key = first.pid, first.key
    backend = backend_of(pg, first)
    first.close()
    with Session(px, "bob", timeout=30) as s:
        assert backend_of(pg, s) == backend
        assert (s.pid, s.key) != (old_pid, old_key)
        # The previous client's key no longer cancels anything: the query runs to its end.
        s.send(wire.query_message("SELECT count(*) FROM generate_series(1, 4000000)"))
        time.sleep(0.2)
        send_cancel(px, old_pid, old_key)
        r = s.until_ready()
        assert r.codes == [] and r.rows() == [(4000000,)], str(r)
        # The session's own key cancels its query on the pooled backend.
        s.send(wire.query_message("SELECT count(*) FROM generate_series(1, 400000000)"))
        wait_for(lambda: pg.query("SELECT 1 FROM pg_stat_activity WHERE pid = %s AND "
                                  "state = 'active' AND query LIKE '%%400000000%%'", (backend,)),
                 "the slow query to start")
        time.sleep(0.3)
        started = time.monotonic()
        send_cancel(px, s.pid, s.key)
        r = s.until_ready()
        assert r.codes == ["57014"] and r.ready == "I", str(r)
        assert time.monotonic() - started < 10
        s.assert_alive("a cancelled query")


def test_pool_waits_for_a_free_backend(pg, pool_proxy):
    px = pool_proxy("mode: session\n  size: 1")
    holder = Session(px, "alice")
    result = {}

    def later():
        time.sleep(1.0)
        holder.close()

    t = threading.Thread(target=later)
    t.start()
    started = time.monotonic()
    with Session(px, "bob", timeout=20) as s:
        result["waited"] = time.monotonic() - started
        s.assert_alive("waiting for the pool")
    t.join()
    assert result["waited"] >= 0.8


def config_error(tmp_path, pool: str) -> str:
    config = tmp_path / "tenantwall.yaml"
    config.write_text(
        "listen: {host: 127.0.0.1, port: 0}\n"
        "backend: {host: 127.0.0.1, port: 5432, database: app, user: u, password: p}\n"
        f"policy: {harness.DEFAULT_POLICY}\npool:\n  {pool}\n")
    p = subprocess.run([str(harness.proxy_binary()), "--config", str(config)],
                       capture_output=True, text=True, timeout=30)
    assert p.returncode != 0
    return p.stdout + p.stderr


def test_bad_values_are_refused_at_load(tmp_path):
    assert "expected one of 'none', 'session', 'transaction'" in config_error(tmp_path, "mode: statement")
    assert "value out of range" in config_error(tmp_path, "size: 0")
    assert "unknown setting 'pool.reset_query'" in config_error(tmp_path, "reset_query: SELECT 1")


def test_terminated_idle_backend_is_not_handed_out(pg, pool_proxy):
    px = pool_proxy("mode: session\n  size: 2")
    with Session(px, "alice") as s:
        backend = backend_of(pg, s)
    wait_for(lambda: reset_done(pg, backend), "the reset of the backend")
    time.sleep(0.2)
    assert pg.query("SELECT pg_terminate_backend(%s)", (backend,)) == [(True,)]
    wait_for(lambda: backend not in service_pids(pg), "the terminated backend to exit")
    with Session(px, "bob") as s:
        assert backend_of(pg, s) != backend
        s.assert_alive("a terminated idle backend in the pool")


def pool_metrics(px) -> dict[str, float]:
    return px.metrics("tenantwall_pool_")


def test_pool_metrics(pg):
    px = admin_helpers.start(pg, pool="mode: session, size: 2")
    try:
        assert pool_metrics(px) == {"tenantwall_pool_size": 2, "tenantwall_pool_in_use": 0,
                                    "tenantwall_pool_idle": 0, "tenantwall_pool_waits_total": 0}
        a, b = Session(px, "alice"), Session(px, "bob")
        m = pool_metrics(px)
        assert (m["tenantwall_pool_in_use"], m["tenantwall_pool_idle"]) == (2, 0)
        waiting = {}

        def third():
            with Session(px, "carol", timeout=20) as c:
                waiting["pid"] = c.pid
        t = threading.Thread(target=third)
        t.start()
        wait_for(lambda: pool_metrics(px)["tenantwall_pool_waits_total"] == 1, "a counted wait")
        a.close()
        t.join(20)
        assert "pid" in waiting, "the waiting client never logged in"
        b.close()
        wait_for(lambda: pool_metrics(px)["tenantwall_pool_idle"] == 2, "both backends idle")
        m = pool_metrics(px)
        assert (m["tenantwall_pool_in_use"], m["tenantwall_pool_waits_total"]) == (0, 1)
    finally:
        px.stop()


def test_many_clients_share_a_small_pool_without_crossing_tenants(pg, pool_proxy):
    px = pool_proxy("mode: session\n  size: 3")
    before = service_pids(pg)
    want = {"alice": [("Alice Anders",), ("Amy Adams",), ("Arthur Abbott",)],
            "bob": [("Gina Grant",), ("Gus Gold",)]}
    errors = []

    def client(i: int):
        user = ("alice", "bob")[i % 2]
        try:
            for _ in range(3):
                conn = px.connect(user)
                try:
                    cur = conn.cursor()
                    cur.execute("SET application_name = 'left-behind'")
                    cur.execute("SELECT name FROM customers ORDER BY name")
                    got = cur.fetchall()
                    cur.execute("PREPARE mine AS SELECT 1")  # 42P05 if a backend leaked it
                    if got != want[user]:
                        errors.append((user, got))
                finally:
                    conn.close()
        except psycopg2.Error as e:
            errors.append((user, e.pgcode, str(e)))

    threads = [threading.Thread(target=client, args=(i,)) for i in range(12)]
    for t in threads:
        t.start()
    for t in threads:
        t.join(60)
    assert errors == []
    assert len(service_pids(pg) - before) <= 3
