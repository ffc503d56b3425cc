"""Tenant isolation in every SELECT position, through the real proxy with psycopg2.

Each query runs as alice and carol (tenant acme) and bob (tenant globex). The answer must contain
no value of the other tenant, and must equal, row for row, what the same text returns against
reference views that hold only the tenant's rows with masks applied (harness.Postgres.truth).
"""
import pytest

from checks import assert_no_leak, assert_rows, run, tenant_of

PRINCIPALS = ["alice", "carol", "bob"]

# (id, sql, ordered, truth_sql): truth_sql is the text for the oracle when it differs (the oracle
# resolves unqualified names to the tenant's reference views, so `public.` is dropped there).
CASES = [
    ("plain-star", "SELECT * FROM customers ORDER BY id", True, None),
    ("plain-columns", "SELECT id, tenant_id, name FROM customers", False, None),
    ("schema-qualified", "SELECT id, name FROM public.customers ORDER BY id", True,
     "SELECT id, name FROM customers ORDER BY id"),
    ("orders", "SELECT * FROM orders ORDER BY id", True, None),
    ("tenants", "SELECT * FROM tenants", False, None),
    ("own-tenant-predicate", "SELECT id, amount FROM orders WHERE tenant_id = '{tenant}' ORDER BY id",
     True, None),
    ("inner-join",
     "SELECT c.name, o.id AS order_id, o.amount FROM customers c JOIN orders o "
     "ON o.customer_id = c.id ORDER BY o.id", True, None),
    ("inner-join-on-true", "SELECT c.id AS customer_id, o.id AS order_id FROM customers c "
     "JOIN orders o ON true", False, None),
    ("comma-join", "SELECT c.name, o.amount FROM customers c, orders o WHERE o.customer_id = c.id",
     False, None),
    ("left-join",
     "SELECT c.name, o.id AS order_id FROM customers c LEFT JOIN orders o ON o.customer_id = c.id "
     "ORDER BY c.id, o.id", True, None),
    ("right-join",
     "SELECT o.id AS order_id, c.name FROM customers c RIGHT JOIN orders o "
     "ON o.customer_id = c.id ORDER BY o.id", True, None),
    ("full-join",
     "SELECT c.id AS customer_id, o.id AS order_id FROM customers c FULL JOIN orders o "
     "ON o.customer_id = c.id", False, None),
    ("cross-join", "SELECT c.id AS customer_id, t.id AS tenant_id, t.name FROM customers c "
     "CROSS JOIN tenants t", False, None),
    ("self-join", "SELECT a.id, b.id AS other_id FROM customers a JOIN customers b ON a.id <> b.id",
     False, None),
    ("join-tenants",
     "SELECT t.name, count(*) AS n, sum(o.amount) AS total FROM tenants t "
     "JOIN orders o ON o.tenant_id = t.id GROUP BY t.name", False, None),
    ("join-three",
     "SELECT t.name AS tenant, c.name, o.amount FROM orders o JOIN customers c ON c.id = o.customer_id "
     "JOIN tenants t ON t.id = c.tenant_id", False, None),
    ("subquery-in-from",
     "SELECT s.name FROM (SELECT id, name FROM customers WHERE id > 0) s ORDER BY s.id", True, None),
    ("subquery-star-in-from", "SELECT * FROM (SELECT * FROM customers) customers", False, None),
    ("nested-subqueries-in-from",
     "SELECT x.n FROM (SELECT count(*) AS n FROM (SELECT * FROM orders) o) x", False, None),
    ("where-in", "SELECT name FROM customers WHERE id IN (SELECT customer_id FROM orders)", False, None),
    ("where-not-in",
     "SELECT name FROM customers WHERE id NOT IN (SELECT customer_id FROM orders)", False, None),
    ("where-exists",
     "SELECT name FROM customers c WHERE EXISTS (SELECT 1 FROM orders o WHERE o.customer_id = c.id)",
     False, None),
    ("where-not-exists",
     "SELECT name FROM customers c WHERE NOT EXISTS "
     "(SELECT 1 FROM orders o WHERE o.customer_id = c.id)", False, None),
    ("where-scalar",
     "SELECT name FROM customers WHERE id = (SELECT max(customer_id) FROM orders)", False, None),
    ("where-nested",
     "SELECT name FROM customers WHERE id IN (SELECT customer_id FROM orders "
     "WHERE amount > (SELECT avg(amount) FROM orders))", False, None),
    ("where-any", "SELECT id FROM orders WHERE amount >= ALL (SELECT amount FROM orders)", False, None),
    ("target-correlated",
     "SELECT name, (SELECT count(*) FROM orders o WHERE o.customer_id = c.id) AS n "
     "FROM customers c ORDER BY c.id", True, None),
    ("target-uncorrelated",
     "SELECT (SELECT count(*) FROM customers) AS customers, (SELECT sum(amount) FROM orders) AS total",
     False, None),
    ("target-in-subquery",
     "SELECT id, id IN (SELECT customer_id FROM orders) AS has_orders FROM customers ORDER BY id",
     True, None),
    ("target-exists",
     "SELECT EXISTS (SELECT 1 FROM customers WHERE name LIKE 'G%') AS g, "
     "EXISTS (SELECT 1 FROM customers WHERE name LIKE 'A%') AS a", False, None),
    ("target-array",
     "SELECT ARRAY(SELECT name FROM customers ORDER BY id) AS names", False, None),
    ("having",
     "SELECT customer_id, sum(amount) AS total FROM orders GROUP BY customer_id "
     "HAVING sum(amount) > (SELECT min(amount) FROM orders) ORDER BY 1", True, None),
    ("having-count",
     "SELECT status, count(*) FROM orders GROUP BY status HAVING count(*) >= 1 ORDER BY status",
     True, None),
    ("cte", "WITH big AS (SELECT * FROM orders WHERE amount > 50) SELECT id, amount FROM big ORDER BY id",
     True, None),
    ("cte-two",
     "WITH c AS (SELECT id, name FROM customers), o AS (SELECT customer_id, amount FROM orders) "
     "SELECT c.name, sum(o.amount) AS total FROM c JOIN o ON o.customer_id = c.id GROUP BY c.name",
     False, None),
    ("cte-shadowing-name",
     "WITH customers AS (SELECT * FROM customers) SELECT id, name FROM customers", False, None),
    ("cte-materialized",
     "WITH m AS MATERIALIZED (SELECT * FROM customers) SELECT count(*) FROM m", False, None),
    ("recursive-cte",
     "WITH RECURSIVE r(n, id) AS (SELECT 1, (SELECT min(id) FROM customers) "
     "UNION ALL SELECT n + 1, (SELECT min(c.id) FROM customers c WHERE c.id > r.id) FROM r "
     "WHERE r.id IS NOT NULL AND n < 10) SELECT n, id FROM r WHERE id IS NOT NULL ORDER BY n",
     True, None),
    ("recursive-cte-over-table",
     "WITH RECURSIVE chain AS (SELECT id, customer_id FROM orders WHERE id = (SELECT min(id) FROM orders) "
     "UNION ALL SELECT o.id, o.customer_id FROM orders o JOIN chain ON o.id = chain.id + 1) "
     "SELECT id, customer_id FROM chain ORDER BY id", True, None),
    ("lateral",
     "SELECT c.name, l.amount FROM customers c CROSS JOIN LATERAL (SELECT amount FROM orders o "
     "WHERE o.customer_id = c.id ORDER BY amount DESC LIMIT 1) l ORDER BY c.id", True, None),
    ("left-join-lateral",
     "SELECT c.name, l.n FROM customers c LEFT JOIN LATERAL (SELECT count(*) AS n FROM orders o "
     "WHERE o.customer_id = c.id) l ON true ORDER BY c.id", True, None),
    ("union", "SELECT name FROM customers UNION SELECT status FROM orders", False, None),
    ("union-all-tenants", "SELECT id FROM tenants UNION ALL SELECT tenant_id FROM orders", False, None),
    ("union-all-count",
     "SELECT count(*) FROM (SELECT id FROM customers UNION ALL SELECT id FROM orders) u", False, None),
    ("intersect", "SELECT id FROM customers INTERSECT SELECT customer_id FROM orders", False, None),
    ("except", "SELECT id FROM customers EXCEPT SELECT customer_id FROM orders", False, None),
    ("set-op-ordered",
     "(SELECT name FROM customers ORDER BY id LIMIT 1) UNION ALL (SELECT status FROM orders LIMIT 1)",
     False, None),
    ("count", "SELECT count(*) FROM customers", False, None),
    ("aggregates",
     "SELECT count(*), sum(amount), min(amount), max(amount), avg(amount) FROM orders", False, None),
    ("count-distinct-tenant", "SELECT count(DISTINCT tenant_id) AS n FROM orders", False, None),
    ("group-by-tenant",
     "SELECT tenant_id, count(*) FROM customers GROUP BY tenant_id", False, None),
    ("string-agg",
     "SELECT string_agg(name, ',' ORDER BY name) AS names FROM customers", False, None),
    ("order-limit", "SELECT id, name FROM customers ORDER BY id DESC LIMIT 2", True, None),
    ("order-limit-offset", "SELECT id, name FROM customers ORDER BY id LIMIT 5 OFFSET 1", True, None),
    ("top-amount", "SELECT amount FROM orders ORDER BY amount DESC LIMIT 1", True, None),
    ("distinct", "SELECT DISTINCT status FROM orders ORDER BY status", True, None),
    ("countries", "SELECT * FROM countries ORDER BY code", True, None),
    ("countries-join",
     "SELECT c.name, k.code FROM customers c CROSS JOIN countries k WHERE k.code = 'US'", False, None),
]


@pytest.mark.parametrize("user", PRINCIPALS)
@pytest.mark.parametrize("case_id,sql,ordered,truth_sql", CASES, ids=[c[0] for c in CASES])
def test_select_is_isolated(connect, pg, world, user, case_id, sql, ordered, truth_sql):
    tenant = tenant_of(user)
    sql = sql.replace("{tenant}", tenant)
    truth_sql = (truth_sql or sql).replace("{tenant}", tenant)
    conn = connect(user)
    try:
        columns, rows = run(conn, sql)
    except Exception as e:  # noqa: BLE001 - report the query and principal with the error
        pytest.fail(f"as {user}: query refused or failed\n  query: {sql}\n  error: "
                    f"{getattr(e, 'pgcode', None)} {e}", pytrace=False)
    assert_no_leak(world, user, sql, columns, rows)
    want_columns, want_rows = pg.truth(tenant, truth_sql)
    assert_rows(user, sql, columns, rows, want_columns, want_rows, ordered)


@pytest.mark.parametrize("user,expected", [("alice", 3), ("carol", 3), ("bob", 2)])
def test_customer_count(connect, user, expected):
    _, rows = run(connect(user), "SELECT count(*) FROM customers")
    assert rows == [(expected,)], f"as {user}: SELECT count(*) FROM customers gave {rows}"


@pytest.mark.parametrize("user", PRINCIPALS)
def test_order_sum_matches_database(connect, pg, user):
    tenant = tenant_of(user)
    (want,) = pg.query("SELECT sum(amount) FROM public.orders WHERE tenant_id = %s", (tenant,))
    (everyone,) = pg.query("SELECT sum(amount) FROM public.orders")
    _, rows = run(connect(user), "SELECT sum(amount) FROM orders")
    assert rows == [want], (f"as {user}: SELECT sum(amount) FROM orders gave {rows}, "
                            f"the tenant's sum is {want}, everyone's is {everyone}")


def test_principals_of_one_tenant_see_the_same(connect):
    sql = "SELECT * FROM customers ORDER BY id"
    _, alice = run(connect("alice"), sql)
    _, carol = run(connect("carol"), sql)
    assert alice == carol and alice, f"alice and carol (both acme) differ on {sql}: {alice} vs {carol}"


def test_sessions_interleaved(connect, world):
    """Two tenants' sessions open at once on one proxy never see each other's rows."""
    a, b = connect("alice"), connect("bob")
    for _ in range(5):
        for user, conn in (("alice", a), ("bob", b)):
            sql = "SELECT c.id, c.name, c.tenant_id, o.id AS order_id FROM customers c " \
                  "LEFT JOIN orders o ON o.customer_id = c.id"
            columns, rows = run(conn, sql)
            assert rows, f"as {user}: no rows for {sql}"
            assert_no_leak(world, user, sql, columns, rows)
            assert {r[2] for r in rows} == {tenant_of(user)}, f"as {user}: tenants {rows}"


def test_transaction_block_is_isolated(connect, world):
    conn = connect("bob", autocommit=False)
    columns, rows = run(conn, "SELECT * FROM orders")
    conn.commit()
    assert_no_leak(world, "bob", "SELECT * FROM orders (in a transaction)", columns, rows)
    assert len(rows) == len(world.orders_of("globex"))
