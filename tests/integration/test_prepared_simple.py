"""pool.prepare_simple_queries end to end: simple-protocol statements that differ only in literals
compared with a column run as one prepared statement per backend connection, with the literals
as parameters. The answers stay exactly the tenant's own rows, masked, as with the plain query;
the metrics show the prepared path was taken (and not taken when switched off). Byte-for-byte
comparisons with PostgreSQL (errors, aborted transactions, DEALLOCATE ALL, the unnamed statement)
are scenarios in test_protocol_exact.py."""
import hashlib

import psycopg2
import pytest

import admin_helpers
import harness
import wire
from checks import mask_email
from test_pool_transaction import ALICE, NAMES
from test_protocol_exact import SYNC, Session, bind, execute, parse

PREPARED = "tenantwall_prepared_simple_queries_total"


def prepared_counts(px) -> dict[str, float]:
    samples = px.metrics(PREPARED + "{")
    return {label: samples.get(f'{PREPARED}{{backend="{label}"}}', 0.0)
            for label in ("reused", "parsed")}


def lookup(conn, customer_id: int) -> list[tuple]:
    with conn.cursor() as cur:
        # psycopg2 sends the literal in the text (simple protocol), as most Python apps do.
        cur.execute("SELECT id, tenant_id, name, email FROM customers WHERE id = %s", (customer_id,))
        return cur.fetchall()


def expected(world, tenant: str, customer_id: int) -> list[tuple]:
    return [(c["id"], c["tenant_id"], c["name"], mask_email(c["email"]))
            for c in world.customers_of(tenant) if c["id"] == customer_id]


@pytest.fixture
def proxies():
    started = []
    yield started
    for px in started:
        px.stop()


@pytest.mark.parametrize("pool", ["mode: none", "mode: session, size: 4",
                                  "mode: transaction, size: 1"])
def test_point_lookups_run_prepared_and_stay_in_the_tenant(pg, world, proxies, pool):
    px = admin_helpers.start(pg, pool=pool)
    proxies.append(px)
    ids = sorted(c["id"] for c in world.customers)
    alice = px.connect("alice")
    bob = px.connect("bob")
    before = prepared_counts(px)
    for customer_id in ids:
        # Every id as both tenants, interleaved: the same statement text but for the tenant
        # literal the proxy adds, so each tenant's statement is its own server statement.
        assert lookup(alice, customer_id) == expected(world, "acme", customer_id), customer_id
        assert lookup(bob, customer_id) == expected(world, "globex", customer_id), customer_id
    after = prepared_counts(px)
    # The first of each shape is decided in full and sent as it is; the rest run prepared.
    runs = after["reused"] + after["parsed"] - before["reused"] - before["parsed"]
    assert runs >= 2 * len(ids) - 2, (before, after)
    assert after["parsed"] - before["parsed"] >= 2, (before, after)
    assert after["reused"] > after["parsed"], after
    alice.close()
    bob.close()


def test_switched_off_sends_plain_queries(pg, world, proxies):
    px = admin_helpers.start(pg, pool="mode: session, size: 2, prepare_simple_queries: false")
    proxies.append(px)
    alice = px.connect("alice")
    for c in world.customers:
        assert lookup(alice, c["id"]) == expected(world, "acme", c["id"])
    assert prepared_counts(px) == {"reused": 0.0, "parsed": 0.0}
    alice.close()


def test_deallocate_all_and_errors_between_prepared_runs(pg, world, proxies):
    px = admin_helpers.start(pg, pool="mode: session, size: 2")
    proxies.append(px)
    own = [c["id"] for c in world.customers_of("acme")]
    alice = px.connect("alice")
    for customer_id in own[:3]:
        assert lookup(alice, customer_id) == expected(world, "acme", customer_id)
    parsed = prepared_counts(px)["parsed"]
    with alice.cursor() as cur:
        cur.execute("DEALLOCATE ALL")  # also drops what the proxy prepared: it closes its own first
    assert lookup(alice, own[0]) == expected(world, "acme", own[0])
    assert prepared_counts(px)["parsed"] == parsed + 1
    # A run-time error in the prepared statement: the same error and transaction state as the
    # plain query would give, and the session goes on.
    alice.autocommit = False
    with alice.cursor() as cur:
        for value in (1, 2):
            with pytest.raises(psycopg2.Error) as failed:
                cur.execute("SELECT id FROM customers WHERE name::int = %s", (value,))
            assert failed.value.pgcode == "22P02", failed.value
            with pytest.raises(psycopg2.Error) as aborted:
                cur.execute("SELECT id FROM customers WHERE id = %s", (own[1],))
            assert aborted.value.pgcode == "25P02", aborted.value
            alice.rollback()
    assert lookup(alice, own[1]) == expected(world, "acme", own[1])
    alice.close()


def test_deallocate_through_the_extended_protocol_is_refused(proxy):
    # It would drop the proxy's statements at an Execute the proxy cannot tie to them; the
    # simple query (above) closes them first.
    with Session(proxy, "alice") as s:
        reply = s.run(parse("", "DEALLOCATE ALL"), bind(), execute(), SYNC)
        assert reply.codes == ["0A000"] and reply.ready == "I", reply
        assert "simple query protocol" in reply.errors[0].text, reply
        s.assert_alive("a refused DEALLOCATE")


def server_statement_name(sql: str, types=()) -> str:
    """The name the proxy gives a server statement (policy::preparedStatementName, whose unit
    test PreparedFormTest.ServerNamesAreAHashOfTextAndTypes pins this formula)."""
    key = sql.encode() + b"\0" + b"".join(f"{t},".encode() for t in types)
    return "tw_" + hashlib.sha256(key).hexdigest()[:32]


def last_service_query(pg, like: str) -> str:
    texts = [r[0] for r in pg.query(
        "SELECT query FROM pg_stat_activity WHERE usename = %s AND query LIKE %s",
        (harness.SERVICE_ROLE, like))]
    assert len(texts) == 1, texts
    return texts[0]


@pytest.mark.parametrize("pool", ["mode: session, size: 1", "mode: transaction, size: 1"])
def test_the_proxys_statements_cannot_be_named(pg, world, proxies, pool):
    # The proxy's statements on a connection are named from their rewritten text, tenant
    # included. In pool.mode transaction every client shares that connection: bob, knowing the
    # text, could once EXECUTE alice's statement and read acme's rows. In either mode a client
    # naming one could run an earlier policy's rewrite, or drop it under the proxy.
    px = admin_helpers.start(pg, pool=pool)
    proxies.append(px)
    own = [c["id"] for c in world.customers_of("acme")]
    alice = Session(px, "alice")
    point = "SELECT name FROM customers WHERE id = {}"
    for customer_id in own[:2]:
        assert alice.query(point.format(customer_id)).tags == "TDCZ"
    form = server_statement_name(last_service_query(pg, "%customers.id OPERATOR(pg_catalog.=) $1%"),
                                 (23,))
    assert alice.run(parse("s1", NAMES), bind("", "s1"), execute(), SYNC).rows() == ALICE
    named = last_service_query(pg, f"%{NAMES[len('SELECT name FROM '):]}%")
    names = [form, server_statement_name(named)] if "transaction" in pool else [form]
    before = prepared_counts(px)
    # In session mode the one backend is alice's own; in transaction mode bob shares it.
    sessions = [alice, Session(px, "bob")] if "transaction" in pool else [alice]
    for s in sessions:
        for name in names:
            for sql in (f"EXECUTE {name}(1)", f"EXECUTE {name}", f"EXPLAIN EXECUTE {name}(1)",
                        f"EXECUTE {name.upper()}(1)", f"DEALLOCATE {name}"):
                r = s.query(sql)
                assert r.codes == ["26000"] and r.raw_rows() == [], (s.user, sql, str(r))
                assert "does not exist" in r.errors[0].text, str(r)
            r = s.query(f"PREPARE {name} AS SELECT 1")
            assert r.codes == ["42939"], str(r)
            r = s.run(parse(name, "SELECT 1"), SYNC)
            assert r.codes == ["42939"] and r.ready == "I", str(r)
            # Closing it closes nothing, as a name the client never made.
            assert s.run(wire.message(b"C", b"S" + name.encode() + b"\0"), SYNC).tags == "3Z"
    # Other tw_ names are the client's own.
    r = alice.run(parse("tw_mine", NAMES), bind("", "tw_mine"), execute(), SYNC)
    assert r.rows() == ALICE and not r.codes, str(r)
    assert alice.query("PREPARE tw_p AS SELECT 1").codes == []
    assert alice.query("EXECUTE tw_p").rows() == [(1,)]
    # alice's statements are still there for her, under the proxy.
    for customer_id in own[:2]:
        r = alice.query(point.format(customer_id))
        assert r.tags == "TDCZ" and len(r.rows()) == 1, str(r)
    assert alice.run(bind("", "s1"), execute(), SYNC).rows() == ALICE
    after = prepared_counts(px)
    assert after["reused"] - before["reused"] == 2 and after["parsed"] == before["parsed"], after
    for s in sessions:
        s.close()
