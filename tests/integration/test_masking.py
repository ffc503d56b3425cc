"""Column masks (email, phone, ssn) and the hidden column (notes), through the real proxy.

A masked value must never equal a raw value, must have the documented shape, and must be what
every predicate, join and ORDER BY sees: a masked column is not an oracle for the raw one.
"""
import re

import psycopg2
import pytest

from checks import assert_no_leak, mask_email, mask_phone, mask_ssn, run, tenant_of

PRINCIPALS = ["alice", "bob"]
SHAPES = {
    "email": re.compile(r"^[^*@]\*\*\*@[A-Za-z0-9.-]+$"),
    "phone": re.compile(r"^\*\*\*-\*\*\*-\d{4}$"),
    "ssn": re.compile(r"^\*\*\*-\*\*-\d{4}$"),
}
MASKS = {"email": mask_email, "phone": mask_phone, "ssn": mask_ssn}


@pytest.mark.parametrize("user", PRINCIPALS)
def test_masked_values_have_the_documented_form(connect, world, user):
    sql = "SELECT id, email, phone, ssn FROM customers ORDER BY id"
    columns, rows = run(connect(user), sql)
    raw = world.raw_pii()
    own = world.customers_of(tenant_of(user))
    assert [r[0] for r in rows] == [c["id"] for c in own], f"as {user}: {sql} gave ids {rows}"
    for row, customer in zip(rows, own):
        for column, value in zip(columns[1:], row[1:]):
            where = f"as {user}: {sql}: column {column} of row {row}"
            assert value not in raw, f"{where}: RAW value {value!r} returned"
            if customer[column] is None:
                assert value is None, f"{where}: NULL became {value!r}"
                continue
            assert SHAPES[column].match(value), f"{where}: {value!r} does not look masked"
            want = MASKS[column](customer[column])
            assert value == want, f"{where}: got {value!r}, want {want!r}"
    assert_no_leak(world, user, sql, columns, rows)


def test_mask_examples(connect):
    _, rows = run(connect("alice"), "SELECT email, phone, ssn FROM customers WHERE id = 1")
    assert rows == [("a***@acme.example", "***-***-0101", "***-**-6789")], rows
    _, rows = run(connect("alice"), "SELECT email FROM customers WHERE id = 3")
    assert rows == [(None,)], f"Amy Adams has no email: NULL must stay NULL, got {rows}"


@pytest.mark.parametrize("user", PRINCIPALS)
@pytest.mark.parametrize("sql", [
    "SELECT * FROM customers",
    "SELECT c.* FROM customers c JOIN orders o ON o.customer_id = c.id",
    "SELECT x.ssn, x.email FROM (SELECT * FROM customers) x",
    "WITH w AS (SELECT ssn, phone FROM customers) SELECT * FROM w",
    "SELECT ssn FROM customers UNION ALL SELECT phone FROM customers",
    "SELECT (SELECT max(ssn) FROM customers) AS m, (SELECT min(email) FROM customers) AS e",
    "SELECT string_agg(ssn || ' ' || phone || ' ' || coalesce(email, ''), ';') AS all_pii FROM customers",
    "SELECT upper(email) AS e, lower(ssn) AS s, replace(phone, '*', '') AS p FROM customers",
    "SELECT row_to_json(c) AS j FROM customers c",
    "SELECT c::text AS t FROM customers c",
])
def test_no_raw_pii_in_any_shape(connect, world, user, sql):
    conn = connect(user)
    try:
        columns, rows = run(conn, sql)
    except psycopg2.Error as e:
        pytest.fail(f"as {user}: {sql} failed: {e.pgcode} {e}", pytrace=False)
    assert rows, f"as {user}: {sql} returned no rows"
    assert_no_leak(world, user, sql, columns, rows)


@pytest.mark.parametrize("user,sql", [
    ("alice", "SELECT count(*) FROM customers WHERE ssn = '123-45-6789'"),
    ("alice", "SELECT count(*) FROM customers WHERE ssn LIKE '1%'"),
    ("alice", "SELECT count(*) FROM customers WHERE ssn > '2'"),
    ("alice", "SELECT count(*) FROM customers WHERE email = 'alice.anders@acme.example'"),
    ("alice", "SELECT count(*) FROM customers WHERE email LIKE 'alice%'"),
    ("alice", "SELECT count(*) FROM customers WHERE length(email) = 25"),
    ("alice", "SELECT count(*) FROM customers WHERE phone = '+1-555-0101'"),
    ("alice", "SELECT count(*) FROM customers WHERE phone LIKE '+1%'"),
    ("alice", "SELECT count(*) FROM customers WHERE substr(ssn, 1, 3) = '123'"),
    ("alice", "SELECT count(*) FROM customers c JOIN (VALUES ('123-45-6789')) v(s) ON v.s = c.ssn"),
    ("alice", "SELECT count(*) FROM customers WHERE ssn IN ('123-45-6789', '234-56-7890')"),
    ("bob", "SELECT count(*) FROM customers WHERE ssn = '456-78-9012'"),
    ("bob", "SELECT count(*) FROM customers WHERE email = 'gus@globex.example'"),
])
def test_masked_columns_are_no_oracle(connect, user, sql):
    _, rows = run(connect(user), sql)
    assert rows == [(0,)], (f"as {user}: {sql} returned {rows}: a predicate on a masked column "
                            f"matched the RAW value")


@pytest.mark.parametrize("user", PRINCIPALS)
def test_order_by_masked_column_follows_the_mask(connect, pg, user):
    """Ties in the mask must stay ties: the raw values must not order the rows."""
    conn = connect(user)
    tenant = tenant_of(user)
    for sql in ("SELECT id FROM customers ORDER BY email NULLS LAST, id DESC",
                "SELECT id FROM customers ORDER BY left(ssn, 3), id DESC",
                "SELECT id FROM customers ORDER BY ssn, id",
                "SELECT id FROM customers ORDER BY split_part(email, '@', 1) NULLS LAST, id DESC"):
        _, rows = run(conn, sql)
        _, want = pg.truth(tenant, sql)
        raw_order = pg.query(sql.replace("FROM customers",
                                         "FROM public.customers WHERE tenant_id = %s"), (tenant,))
        assert rows == want, (f"as {user}: {sql}\n  got order {rows}\n  order by masked values "
                              f"{want}\n  order by raw values {raw_order}")


def test_email_tie_is_not_broken_by_raw_value(connect):
    # alice.anders@ and arthur@ both mask to a***@acme.example: the raw order (1, 2) must not show.
    _, rows = run(connect("alice"), "SELECT id FROM customers WHERE email IS NOT NULL "
                                    "ORDER BY email, id DESC")
    assert rows == [(2,), (1,)], f"ORDER BY email, id DESC gave {rows}: raw emails ordered the rows"


@pytest.mark.parametrize("user", PRINCIPALS)
def test_hidden_column_absent_from_star(connect, user):
    cur = connect(user).cursor()
    cur.execute("SELECT * FROM customers")
    names = [d.name for d in cur.description]
    assert names == ["id", "tenant_id", "name", "email", "phone", "ssn"], (
        f"as {user}: SELECT * FROM customers has columns {names}")


# The rewritten relation has no `notes` column, so PostgreSQL itself answers 42703
# (undefined_column) for the reference; the proxy must pass that through, scrubbed.
@pytest.mark.parametrize("sql", [
    "SELECT notes FROM customers",
    "SELECT c.notes FROM customers c",
    "SELECT count(*) FROM customers WHERE notes IS NOT NULL",
    "SELECT id FROM customers ORDER BY notes",
    "SELECT (SELECT max(notes) FROM customers) AS n",
])
def test_hidden_column_cannot_be_referenced(connect, world, sql):
    conn = connect("alice")
    with pytest.raises(psycopg2.Error) as info:
        run(conn, sql)
    e = info.value
    # Refused by the proxy when the reference names the fenced relation (42501), or by
    # PostgreSQL because the secured relation has no such column (42703); never a value.
    assert e.pgcode in ("42703", "42501"), f"as alice: {sql} gave {e.pgcode} {e}, want 42703/42501"
    assert "notes" in str(e) and "acme vip" not in str(e), f"as alice: {sql} gave {e}"
    for c in world.customers:
        if c["notes"]:
            assert c["notes"] not in str(e), f"as alice: {sql}: error mentions notes value: {e}"
    _, rows = run(conn, "SELECT count(*) FROM customers")
    assert rows == [(3,)], f"connection unusable after {sql}: {rows}"
