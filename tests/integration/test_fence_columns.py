"""Fences narrowed to the columns a statement names (policy/sql/fence_columns.h) answer exactly
what the full fences answer. The reference is PostgreSQL itself: a superuser session where
temporary views named like the tables hold acme's rows with the masks applied (the temporary
schema comes first in name lookup), so every statement below runs unchanged on both sides, and
the rows and the column names must be equal. The statements are the ones a narrowing could get
wrong: stars, whole-row references, NATURAL and USING joins, column alias lists, aliased joins,
correlated and LATERAL references, zero needed columns."""
import pytest

from checks import run

ACME_VIEWS = [
    "CREATE TEMP VIEW tenants AS SELECT id, name FROM public.tenants WHERE id = 'acme'",
    "CREATE TEMP VIEW customers AS SELECT id, tenant_id, name, "
    "(left(email, 1) || '***@') || split_part(email, '@', 2) AS email, "
    "'***-***-' || right(phone, 4) AS phone, '***-**-' || right(ssn, 4) AS ssn "
    "FROM public.customers WHERE tenant_id = 'acme'",
    "CREATE TEMP VIEW orders AS SELECT id, tenant_id, customer_id, amount, status, created_at "
    "FROM public.orders WHERE tenant_id = 'acme'",
]

STATEMENTS = [
    "SELECT amount, id FROM orders WHERE status <> 'nope'",
    "SELECT count(*) FROM orders",
    "SELECT count(*) FROM customers c, orders o WHERE o.customer_id = c.id",
    "SELECT * FROM orders",
    "SELECT o.*, c.name FROM orders o JOIN customers c ON c.id = o.customer_id",
    "SELECT o.id FROM orders o WHERE EXISTS (SELECT * FROM tenants)",
    "SELECT row_to_json(c)::text FROM customers c",
    "SELECT (o).amount FROM orders o",
    "SELECT t FROM tenants t",
    "SELECT row_to_json(o)::text, c.name FROM orders o JOIN customers c ON c.id = o.customer_id",
    "SELECT name, amount FROM customers NATURAL JOIN orders",
    "SELECT amount, name FROM orders JOIN customers USING (id, tenant_id)",
    "SELECT amount, name FROM orders JOIN customers USING (id)",
    "SELECT a, b FROM tenants AS t(a, b)",
    "SELECT b FROM customers AS c(a, b, x)",
    "SELECT j.amount FROM (orders o JOIN tenants t ON t.id = o.tenant_id) AS j",
    "SELECT c.name FROM customers c WHERE EXISTS "
    "(SELECT 1 FROM orders o WHERE o.customer_id = c.id AND o.amount > 5)",
    "SELECT c.name, x.total FROM customers c, LATERAL "
    "(SELECT sum(amount) AS total FROM orders o WHERE o.customer_id = c.id) x",
    "SELECT status, max(amount) FROM orders GROUP BY status ORDER BY min(created_at)",
    "WITH big AS (SELECT customer_id FROM orders WHERE amount > 1) SELECT count(*) FROM big",
    "SELECT email, phone FROM customers WHERE ssn IS NOT NULL",
    "SELECT id FROM orders UNION ALL SELECT id FROM customers",
]


@pytest.fixture(scope="module")
def reference(pg):
    """acme's answers, from PostgreSQL straight, for each statement."""
    answers = {}
    with pg.superuser() as conn:
        for view in ACME_VIEWS:
            run(conn, view)
        for sql in STATEMENTS:
            with conn.cursor() as cur:
                cur.execute(sql)
                answers[sql] = ([d.name for d in cur.description], sorted(map(repr, cur.fetchall())))
    return answers


@pytest.mark.parametrize("sql", STATEMENTS)
def test_narrowed_fences_answer_what_the_tables_hold(reference, connect, sql):
    alice = connect("alice")
    with alice.cursor() as cur:
        cur.execute(sql)
        got = ([d.name for d in cur.description], sorted(map(repr, cur.fetchall())))
    names, rows = reference[sql]
    assert rows, f"the reference answer of {sql!r} is empty: the comparison would prove nothing"
    assert got == (names, rows)
