"""The backend pool in transaction mode (pool.mode: transaction) with the real proxy and the real
PostgreSQL: clients of different tenants take turns on the same backend between transactions,
a transaction keeps its backend to its end, anything that outlives a transaction in the database
session (SET, PREPARE, WITH HOLD cursors, named protocol statements) keeps the backend to its
client until it leaves, the unnamed statement and cancel keys never reach another client, and
real clients (psycopg2 threads, pgbench in every protocol mode) run clean on a small pool."""
import signal
import threading
import time

import psycopg2
import pytest

import wire
from test_pgbench_tenant import CHECK_SCRIPT, assert_clean_run, own_range, pgbench, processed
from checks import wait_for
from test_pool import (backend_of, begin_with_write, pool_proxy,  # noqa: F401 (fixture)
                       service_pids)
from test_protocol_exact import SYNC, Session, bind, execute, parse, send_cancel

ALICE = [("Alice Anders",), ("Amy Adams",), ("Arthur Abbott",)]
BOB = [("Gina Grant",), ("Gus Gold",)]
NAMES = "SELECT name FROM customers ORDER BY name"


def tx(size: int) -> str:
    return f"mode: transaction\n  size: {size}"


def in_thread(fn):
    result = {}

    def run():
        try:
            result["value"] = fn()
        except Exception as e:  # reported by the test's assertion on the result
            result["error"] = e
    t = threading.Thread(target=run)
    t.start()
    return t, result


def test_two_tenants_take_turns_on_one_backend(pg, pool_proxy):
    px = pool_proxy(tx(1))
    alice, bob = Session(px, "alice"), Session(px, "bob")  # both logged in on a pool of one
    backend = backend_of(pg, alice)
    assert backend_of(pg, bob) == backend
    for _ in range(3):
        assert alice.query(NAMES).rows() == ALICE
        assert bob.query(NAMES).rows() == BOB
    # A transaction keeps the backend to its end: bob's statement waits for alice's COMMIT.
    assert alice.query("BEGIN").ready == "T"
    assert alice.query(NAMES).rows() == ALICE
    t, result = in_thread(lambda: bob.query(NAMES))
    t.join(1.0)
    assert t.is_alive(), f"bob ran inside alice's transaction: {result}"
    assert alice.query("SELECT count(*) FROM orders").ready == "T"
    assert alice.query("COMMIT").ready == "I"
    t.join(10)
    assert not t.is_alive() and result["value"].rows() == BOB, str(result)
    assert backend_of(pg, alice) == backend
    alice.close()
    bob.close()


def test_session_state_keeps_the_backend_to_its_client(pg, pool_proxy):
    px = pool_proxy(tx(3))
    alice = Session(px, "alice")
    assert alice.query("SET statement_timeout = '4321ms'").codes == []
    pinned = backend_of(pg, alice)
    bob = Session(px, "bob")
    assert bob.query("PREPARE bob_p AS SELECT name FROM customers ORDER BY name").codes == []
    bob_backend = backend_of(pg, bob)
    assert bob_backend != pinned
    carol = Session(px, "carol")
    for _ in range(3):
        # carol only ever gets the third backend: never alice's setting, never bob's statement.
        assert backend_of(pg, carol) not in (pinned, bob_backend)
        assert carol.query("SHOW statement_timeout").rows() == [("0",)]
        assert carol.query("EXECUTE bob_p").codes == ["26000"]
        assert alice.query("SHOW statement_timeout").rows() == [("4321ms",)]
        assert bob.query("EXECUTE bob_p").rows() == BOB
    assert backend_of(pg, alice) == pinned and backend_of(pg, bob) == bob_backend
    # A cursor WITH HOLD outlives its transaction: the same backend serves its FETCH.
    assert carol.query("BEGIN").ready == "T"
    assert carol.query("DECLARE held CURSOR WITH HOLD FOR SELECT name FROM customers "
                       "ORDER BY name").codes == []
    assert carol.query("COMMIT").ready == "I"
    assert carol.query("FETCH 1 FROM held").rows() == [("Alice Anders",)]
    assert carol.query("FETCH 1 FROM held").rows() == [("Amy Adams",)]
    alice.close()
    # alice's backend is reset when she leaves and then serves others without her setting.
    wait_for(lambda: pg.query("SELECT 1 FROM pg_stat_activity WHERE pid = %s AND "
                              "query = 'DISCARD ALL'", (pinned,)), "alice's backend reset")
    dave = Session(px, "bob")
    assert backend_of(pg, dave) == pinned
    assert dave.query("SHOW statement_timeout").rows() == [("0",)]
    for s in (bob, carol, dave):
        s.close()


def test_transaction_scoped_state_does_not_pin(pg, pool_proxy):
    px = pool_proxy(tx(1))
    alice, bob = Session(px, "alice"), Session(px, "bob")
    backend = backend_of(pg, alice)
    assert alice.query("BEGIN").ready == "T"
    assert alice.query("SET LOCAL statement_timeout = '777ms'").codes == []
    assert alice.query("SHOW statement_timeout").rows() == [("777ms",)]
    assert alice.query("DECLARE c CURSOR FOR SELECT name FROM customers ORDER BY name").codes == []
    assert alice.query("COMMIT").ready == "I"
    # One backend: bob can only run if alice gave it back.
    assert backend_of(pg, bob) == backend
    assert bob.query("SHOW statement_timeout").rows() == [("0",)]
    assert bob.query("FETCH 1 FROM c").codes == ["34000"]
    assert alice.query(NAMES).rows() == ALICE
    alice.close()
    bob.close()


def test_client_leaving_mid_transaction_is_rolled_back(pg, pool_proxy, unchanged):
    px = pool_proxy(tx(1))
    alice = Session(px, "alice")
    backend = backend_of(pg, alice)
    begin_with_write(alice, "tx-pool-ghost")
    alice.close()
    bob = Session(px, "bob")
    assert backend_of(pg, bob) == backend
    assert bob.query("BEGIN").ready == "T"  # not inside alice's transaction
    assert bob.query("ROLLBACK").ready == "I"
    bob.close()
    assert pg.query("SELECT count(*) FROM customers WHERE name = 'tx-pool-ghost'") == [(0,)]
    unchanged("a client leaving mid-transaction in transaction mode")


def test_unnamed_statement_never_reaches_another_client(pg, pool_proxy):
    px = pool_proxy(tx(1))
    alice, bob = Session(px, "alice"), Session(px, "bob")
    # Parsed in one transaction, bound in the next: the backend waits for the Bind.
    assert alice.run(parse("", NAMES), SYNC).tags == "1Z"
    r = alice.run(bind(), execute(), SYNC)
    assert r.tags == "2DDDCZ" and r.rows() == ALICE, str(r)
    # Bound once, then the transaction ended: the backend went back to the pool with alice's
    # rewritten statement in it, which bob may not bind.
    r = bob.run(bind(), execute(), SYNC)
    assert r.codes == ["26000"] and r.ready == "I", str(r)
    assert bob.query(NAMES).rows() == BOB  # PostgreSQL drops the unnamed statement here
    # alice's own statement is parsed again for her, its ParseComplete not relayed; bob's
    # Parse replaces it on the backend, and alice's next Bind brings hers back.
    for s, want in ((alice, ALICE), (alice, ALICE), (bob, None), (alice, ALICE)):
        if want is None:
            r = s.run(parse("", NAMES), bind(), execute(), SYNC)
            assert r.tags == "12DDCZ" and r.rows() == BOB, str(r)
            continue
        r = s.run(bind(), execute(), SYNC)
        assert r.tags == "2DDDCZ" and r.rows() == want, str(r)
    r = alice.run(wire.message(b"D", b"S\0"), SYNC)
    assert r.tags == "tTZ", str(r)
    r = bob.run(bind(), execute(), SYNC)
    assert r.tags == "2DDCZ" and r.rows() == BOB, str(r)
    # The usual Parse, Bind, Execute, Sync of drivers runs on whichever backend is free.
    for s, want in ((alice, ALICE), (bob, BOB), (alice, ALICE)):
        r = s.run(parse("", NAMES), bind(), execute(), SYNC)
        assert r.tags.endswith("CZ") and r.rows() == want, str(r)
    alice.close()
    bob.close()


def test_named_statements_follow_their_client_across_backends(pg, pool_proxy):
    px = pool_proxy(tx(2))
    alice, bob, carol = Session(px, "alice"), Session(px, "bob"), Session(px, "carol")
    # The same client name for different statements; alice's is bob's text, rewritten for acme.
    assert alice.run(parse("s1", NAMES), SYNC).tags == "1Z"
    assert bob.run(parse("s1", NAMES), SYNC).tags == "1Z"
    assert carol.run(parse("c1", "SELECT count(*) FROM customers"), SYNC).tags == "1Z"
    for _ in range(3):
        # bob inside a transaction holds one backend: alice and carol share the other.
        assert bob.query("BEGIN").ready == "T"
        r = bob.run(bind("", "s1"), execute(), SYNC)
        assert r.rows() == BOB and r.ready == "T", str(r)
        for s, want in ((alice, ALICE), (carol, [("3",)])):
            r = s.run(bind("", "s1" if s is alice else "c1"), execute(), SYNC)
            assert r.tags.endswith("CZ") and r.rows() == want, str(r)
        assert bob.query("COMMIT").ready == "I"
        r = alice.run(bind("", "s1"), execute(), SYNC)
        assert r.rows() == ALICE, str(r)
    # Made certain: alice parses s3 on backend x, then binds it on backend y.
    assert alice.run(parse("s3", NAMES), SYNC).tags == "1Z"
    assert alice.query("BEGIN").ready == "T"
    x = backend_of(pg, alice)
    assert bob.query("BEGIN").ready == "T"
    y = backend_of(pg, bob)
    assert alice.query("COMMIT").ready == "I"
    assert carol.query("BEGIN").ready == "T"
    assert backend_of(pg, carol) == x
    assert bob.query("COMMIT").ready == "I"
    r = alice.run(bind("", "s3"), execute(), SYNC)
    assert r.tags == "2DDDCZ" and r.rows() == ALICE, str(r)
    assert backend_of(pg, alice) == y != x
    assert carol.query("COMMIT").ready == "I"
    # A name the client never parsed is refused, whatever the backend holds.
    r = carol.run(bind("", "s1"), execute(), SYNC)
    assert r.codes == ["26000"], str(r)
    # Closed: gone for its client only.
    r = alice.run(wire.message(b"C", b"Ss1\0"), SYNC)
    assert r.tags == "3Z", str(r)
    assert alice.run(bind("", "s1"), execute(), SYNC).codes == ["26000"]
    r = bob.run(bind("", "s1"), execute(), SYNC)
    assert r.rows() == BOB, str(r)
    # Parsing a name twice is refused as PostgreSQL refuses it, and the first one stays.
    r = bob.run(parse("s1", "SELECT 1"), SYNC)
    assert r.codes == ["42P05"] and r.ready == "I", str(r)
    assert bob.run(bind("", "s1"), execute(), SYNC).rows() == BOB
    # Closing a statement that never existed answers CloseComplete, as PostgreSQL does.
    assert alice.run(wire.message(b"C", b"Snever\0"), SYNC).tags == "3Z"
    # A refused Bind in a batch leaves the other statements usable on every backend.
    r = alice.run(parse("s2", NAMES), bind("", "nope"), execute(), SYNC)
    assert r.codes == ["26000"] and r.ready == "I", str(r)
    r = alice.run(parse("s2", NAMES), SYNC)  # it ran before the refused Bind, as in PostgreSQL
    assert r.codes == ["42P05"], str(r)
    for _ in range(2):
        r = alice.run(bind("", "s2"), execute(), SYNC)
        assert r.rows() == ALICE, str(r)
    for s in (alice, bob, carol):
        s.close()


def test_cancel_follows_the_transaction(pg, pool_proxy):
    px = pool_proxy(tx(1))
    alice = Session(px, "alice", timeout=30)
    backend = backend_of(pg, alice)
    with Session(px, "bob", timeout=30) as bob:
        assert backend_of(pg, bob) == backend
        # alice holds no backend now: her key cancels nothing, not bob's query on her old one.
        bob.send(wire.query_message("SELECT count(*) FROM generate_series(1, 4000000)"))
        wait_for(lambda: pg.query("SELECT 1 FROM pg_stat_activity WHERE pid = %s AND "
                                  "state = 'active' AND query LIKE '%%4000000%%'", (backend,)),
                 "bob's query to start")
        send_cancel(px, alice.pid, alice.key)
        r = bob.until_ready()
        assert r.codes == [] and r.rows() == [(4000000,)], str(r)
        # bob's own key reaches the backend his running query has.
        bob.send(wire.query_message("SELECT count(*) FROM generate_series(1, 400000000)"))
        wait_for(lambda: pg.query("SELECT 1 FROM pg_stat_activity WHERE pid = %s AND "
                                  "state = 'active' AND query LIKE '%%400000000%%'", (backend,)),
                 "the slow query to start")
        time.sleep(0.3)
        send_cancel(px, bob.pid, bob.key)
        r = bob.until_ready()
        assert r.codes == ["57014"] and r.ready == "I", str(r)
        bob.assert_alive("a cancelled query in transaction mode")
    assert alice.query(NAMES).rows() == ALICE
    alice.close()


# One I/O thread, and four: each client's session stays on one thread while the two backends
# go from client to client, so they move between threads whenever none is idle on the taker's.
@pytest.mark.parametrize("io_threads", [1, 4])
def test_many_clients_share_two_backends(pg, pool_proxy, io_threads):
    px = pool_proxy(tx(2), extra=f"io_threads: {io_threads}\n")
    wait_for(lambda: f"{io_threads} I/O thread" in px.output, f"the log line of {io_threads} threads")
    before = service_pids(pg)
    want = {"alice": ALICE, "bob": BOB}
    errors = []

    def client(i: int):
        user = ("alice", "bob")[i % 2]
        try:
            conn = px.connect(user, autocommit=(i % 4 < 2))  # psycopg2 BEGINs when not
            try:
                cur = conn.cursor()
                for _ in range(20):
                    cur.execute(NAMES)
                    got = cur.fetchall()
                    if got != want[user]:
                        errors.append((user, got))
                    cur.execute("SELECT count(DISTINCT tenant_id) FROM orders")
                    if cur.fetchall() != [(1,)]:
                        errors.append((user, "orders of two tenants"))
                    if not conn.autocommit:
                        conn.commit()
            finally:
                conn.close()
        except psycopg2.Error as e:
            errors.append((user, e.pgcode, str(e)))

    threads = [threading.Thread(target=client, args=(i,)) for i in range(16)]
    for t in threads:
        t.start()
    for t in threads:
        t.join(60)
    assert errors == []
    assert len(service_pids(pg) - before) <= 2


@pytest.mark.parametrize("mode", ["simple", "extended", "prepared"])
def test_pgbench_on_a_small_pool(pg, pool_proxy, world, tmp_path, mode):
    px = pool_proxy(tx(2))
    first, last = own_range(world, "bob")
    p = pgbench(px, "bob", tmp_path, CHECK_SCRIPT, "-M", mode, "-c", "6", "-j", "2", "-T", "2",
                "-D", f"first={first}", "-D", f"last={last}")
    assert_clean_run(p, "bob", f"-M {mode} on a transaction pool of 2")
    assert processed(p.stdout) > 20, p.stdout


def test_drain_closes_clients_that_hold_no_backend(pg, pool_proxy):
    px = pool_proxy(tx(1))
    idle = px.connect("alice")
    assert idle.cursor().execute("SELECT 1") is None
    busy = px.connect("bob", autocommit=False)
    cur = busy.cursor()
    cur.execute("SELECT count(*) FROM customers")  # opens a transaction, holds the backend
    assert cur.fetchall() == [(2,)]
    px.process.send_signal(signal.SIGTERM)
    time.sleep(0.5)
    with pytest.raises(psycopg2.Error) as info:
        idle.cursor().execute("SELECT 1")
    assert "administrator command" in str(info.value) or idle.closed, info.value
    cur.execute("SELECT name FROM customers ORDER BY id")
    assert [r[0] for r in cur.fetchall()] == ["Gina Grant", "Gus Gold"]
    busy.commit()
    deadline = time.monotonic() + 10
    while px.process.poll() is None and time.monotonic() < deadline:
        time.sleep(0.05)
    assert px.process.returncode == 0, px.output
