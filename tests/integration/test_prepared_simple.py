"""pool.prepare_simple_queries end to end: simple-protocol statements that differ only in literals
compared with a column run as one prepared statement per backend connection, with the literals
as parameters. The answers stay exactly the tenant's own rows, masked, as with the plain query;
the metrics show the prepared path was taken (and not taken when switched off). Byte-for-byte
comparisons with PostgreSQL (errors, aborted transactions, DEALLOCATE ALL, the unnamed statement)
are scenarios in test_protocol_exact.py."""
import psycopg2
import pytest

import admin_helpers
from checks import mask_email
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
