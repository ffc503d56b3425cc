"""Leakproof pushdown end to end: the proxy reads from the live database which columns' equality
is leakproof, copies `column = constant` conjuncts into the fence so PostgreSQL can use an index,
and the answers stay exactly those of the tenant's own rows."""
import time

import pytest


def wait_for(predicate, timeout=10.0):
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        if predicate():
            return True
        time.sleep(0.05)
    return predicate()


def plan(conn, sql, params=None):
    with conn.cursor() as cur:
        cur.execute("EXPLAIN (COSTS off) " + sql, params)
        return "\n".join(row[0] for row in cur.fetchall())


def inner_scan(text):
    """The scan of the real table: below the fence's Subquery Scan, or the whole plan when the
    fence holds only what the statement names and PostgreSQL drops the Subquery Scan."""
    if text.startswith("Subquery Scan"):
        return text.split("->", 1)[1] if "->" in text else ""
    return text


def rows(conn, sql, params=None):
    with conn.cursor() as cur:
        cur.execute(sql, params)
        return cur.fetchall()


@pytest.fixture
def facts_read(proxy):
    assert wait_for(lambda: "column facts read" in proxy.output), (
        f"the proxy never read its column facts:\n{proxy.output[-3000:]}")


def test_point_lookup_uses_the_primary_key_index(facts_read, connect):
    alice = connect("alice")
    text = plan(alice, "SELECT name FROM customers WHERE id = 1")
    scan = inner_scan(text)
    assert "Index Scan using customers_pkey" in scan and "(id = 1)" in scan, text
    # The tenant filter stays inside the fence, next to the pushed comparison.
    assert "tenant_id = 'acme'" in scan, text


def test_parameters_are_pushed_and_still_fenced(facts_read, connect, world):
    alice = connect("alice")
    text = plan(alice, "SELECT name FROM customers WHERE id = %s", (1,))
    assert "customers_pkey" in inner_scan(text), text
    globex_id = world.customers_of("globex")[0]["id"]
    # Another tenant's key through the index: still no row.
    assert rows(alice, "SELECT id, name FROM customers WHERE id = %s", (globex_id,)) == []
    own = world.customers_of("acme")[0]
    assert rows(alice, "SELECT id, name FROM customers WHERE id = %s", (own["id"],)) == [
        (own["id"], own["name"])]


def test_masked_column_is_never_pushed(facts_read, connect, world):
    alice = connect("alice")
    own = world.customers_of("acme")[0]
    # The raw email would match inside the fence; the masked one outside does not.
    assert rows(alice, "SELECT id FROM customers WHERE email = %s", (own["email"],)) == []
    scan = inner_scan(plan(alice, "SELECT id FROM customers WHERE email = 'x'"))
    assert "email" not in scan and "tenant_id = 'acme'" in scan, scan


def test_results_equal_with_and_without_pushdown(facts_read, connect, world):
    alice = connect("alice")
    acme_orders = sorted(o["id"] for o in world.orders_of("acme"))
    got = sorted(r[0] for r in rows(
        alice, "SELECT o.id FROM orders o JOIN customers c ON c.id = o.customer_id "
               "WHERE o.status IN ('open', 'paid', 'shipped', 'cancelled') OR o.id = o.id"))
    assert got == acme_orders
    for status in {o["status"] for o in world.orders_of("acme")} | {"nope"}:
        want = sorted(o["id"] for o in world.orders_of("acme") if o["status"] == status)
        got = sorted(r[0] for r in rows(alice, "SELECT id FROM orders WHERE status = %s", (status,)))
        assert got == want, status


def test_an_application_s_own_tenant_filter_costs_nothing(facts_read, connect, world):
    """Tenant-aware applications filter by tenant themselves. The proxy moves that conjunct into
    the fence, where PostgreSQL merges it with the tenant filter: one scan, one test per row, no
    Subquery Scan (outside the fence PostgreSQL tested every row twice)."""
    alice = connect("alice")
    text = plan(alice, "SELECT id, status FROM orders WHERE tenant_id = 'acme'")
    assert "Subquery Scan" not in text, text
    assert text.count("tenant_id = 'acme'") == 1, text
    want = sorted((o["id"], o["status"]) for o in world.orders_of("acme"))
    assert sorted(rows(alice, "SELECT id, status FROM orders WHERE tenant_id = 'acme'")) == want
    # Beside another condition, and joined: the same rows as the tenant's own.
    want_open = sorted(o["id"] for o in world.orders_of("acme") if o["status"] == "open")
    got = rows(alice, "SELECT o.id FROM orders o JOIN customers c ON c.id = o.customer_id "
                      "WHERE o.tenant_id = 'acme' AND c.tenant_id = 'acme' AND o.status = 'open'")
    assert sorted(r[0] for r in got) == want_open
