"""psycopg2 server-side (named) cursors through the proxy: psycopg2 sends DECLARE ... CURSOR and
then FETCH FORWARD n, so the rewritten query runs inside the cursor. Fetched in small batches,
scrolled, held across COMMIT, two at once, with parameters naming another tenant, and over
refused queries: every row is the principal's own, masked; refusals are 42501 and the
connection goes on. test_cursors_prepare.py has the basic case."""
import psycopg2
import pytest

from checks import assert_no_leak, mask_email, mask_phone, mask_ssn, tenant_of

CUSTOMER_COLUMNS = ["id", "tenant_id", "name", "email", "phone", "ssn"]
CUSTOMERS_SQL = "SELECT id, tenant_id, name, email, phone, ssn FROM customers ORDER BY id"
USERS_UNDER_TEST = ["alice", "bob", "carol"]


def masked(world, tenant, ids=None):
    return [(c["id"], c["tenant_id"], c["name"], mask_email(c["email"]), mask_phone(c["phone"]),
             mask_ssn(c["ssn"])) for c in world.customers_of(tenant) if ids is None or c["id"] in ids]


def expect(world, user, sql, got, want, columns=CUSTOMER_COLUMNS):
    assert_no_leak(world, user, sql, columns, got)
    assert got == want, (f"as {user} (tenant {tenant_of(user)}), named cursor: wrong rows\n"
                         f"  query: {sql}\n  got:  {got}\n  want: {want}")


@pytest.mark.parametrize("user", USERS_UNDER_TEST)
@pytest.mark.parametrize("itersize", [1, 2, 1000])
def test_named_cursor_iterates_in_batches(connect, world, user, itersize):
    conn = connect(user, autocommit=False)
    cur = conn.cursor(name=f"tw_iter_{itersize}")
    cur.itersize = itersize  # FETCH FORWARD itersize, again and again
    cur.execute(CUSTOMERS_SQL)
    expect(world, user, CUSTOMERS_SQL, list(cur), masked(world, tenant_of(user)))
    cur.close()
    conn.rollback()


@pytest.mark.parametrize("user", ["alice", "bob"])
def test_fetchone_fetchmany_fetchall(connect, world, user):
    conn = connect(user, autocommit=False)
    cur = conn.cursor(name="tw_fetch")
    cur.execute(CUSTOMERS_SQL)
    want = masked(world, tenant_of(user))
    got = [cur.fetchone()] + cur.fetchmany(1) + cur.fetchall()
    expect(world, user, CUSTOMERS_SQL, got, want)
    assert cur.fetchone() is None
    conn.rollback()


@pytest.mark.parametrize("user", ["alice", "bob"])
def test_scrollable_cursor(connect, world, user):
    conn = connect(user, autocommit=False)
    cur = conn.cursor(name="tw_scroll", scrollable=True)
    cur.execute(CUSTOMERS_SQL)
    want = masked(world, tenant_of(user))
    expect(world, user, CUSTOMERS_SQL, cur.fetchall(), want)
    cur.scroll(0, mode="absolute")
    expect(world, user, f"{CUSTOMERS_SQL} (scrolled back)", [cur.fetchone()], want[:1])
    cur.scroll(len(want) - 1, mode="absolute")
    expect(world, user, f"{CUSTOMERS_SQL} (scrolled to the end)", [cur.fetchone()], want[-1:])
    cur.scroll(-1)
    got = cur.fetchall()
    expect(world, user, f"{CUSTOMERS_SQL} (scrolled -1)", got, want[-1:])
    cur.scroll(-100)  # MOVE far before the start, then forward past the end: no other rows appear
    expect(world, user, f"{CUSTOMERS_SQL} (after MOVE -100)", cur.fetchall(), want)
    cur.scroll(10)
    assert cur.fetchall() == [], "rows after MOVE past the end"
    conn.rollback()


def test_cursor_with_hold_survives_commit(connect, world):
    conn = connect("alice", autocommit=False)
    cur = conn.cursor(name="tw_hold", withhold=True)
    cur.itersize = 1
    cur.execute("SELECT o.id, o.amount, c.name, c.email FROM orders o JOIN customers c "
                "ON c.id = o.customer_id ORDER BY o.id")
    first = cur.fetchone()
    conn.commit()  # a WITH HOLD cursor stays open: its rows were materialised through the fence
    rest = cur.fetchall()
    got = [first] + rest
    want = [(o["id"], o["amount"], c["name"], mask_email(c["email"]))
            for o in world.orders_of("acme") for c in world.customers if c["id"] == o["customer_id"]]
    expect(world, "alice", "orders JOIN customers WITH HOLD", got, want, ["id", "amount", "name", "email"])
    cur.close()
    conn.commit()


def test_two_cursors_interleaved(connect, world):
    conn = connect("bob", autocommit=False)
    a = conn.cursor(name="tw_a")
    b = conn.cursor(name="tw_b")
    a.execute(CUSTOMERS_SQL)
    b.execute("SELECT id, customer_id, amount FROM orders ORDER BY id")
    got_a, got_b = [], []
    for _ in range(4):
        got_a += a.fetchmany(1)
        got_b += b.fetchmany(1)
    expect(world, "bob", CUSTOMERS_SQL, got_a, masked(world, "globex"))
    expect(world, "bob", "orders", got_b, [(o["id"], o["customer_id"], o["amount"])
                                           for o in world.orders_of("globex")],
           ["id", "customer_id", "amount"])
    conn.rollback()


@pytest.mark.parametrize("user", ["alice", "bob"])
def test_parameters_naming_other_rows(connect, world, user):
    conn = connect(user, autocommit=False)
    for cid in range(1, 7):
        cur = conn.cursor(name=f"tw_param_{cid}")
        sql = "SELECT id, tenant_id, name, email, phone, ssn FROM customers WHERE id = %s"
        cur.execute(sql, (cid,))
        expect(world, user, f"{sql} with {cid}", cur.fetchall(), masked(world, tenant_of(user), {cid}))
        cur.close()
    conn.rollback()


@pytest.mark.parametrize("sql,codes", [
    ("SELECT * FROM internal_audit", ("42501",)),
    ("SELECT * FROM customers WHERE tenant_id = 'globex'", ("42501",)),
    ("SELECT notes FROM customers", ("42703", "42501")),
    ("SELECT c.name FROM customers c, internal_audit a", ("42501",)),
])
def test_refused_query_in_a_named_cursor(connect, world, sql, codes):
    conn = connect("alice", autocommit=False)
    cur = conn.cursor(name="tw_refused")
    with pytest.raises(psycopg2.Error) as info:
        cur.execute(sql)
        cur.fetchall()
    assert info.value.pgcode in codes, f"as alice, named cursor over {sql}: {info.value.pgcode} {info.value}"
    for c in world.customers:
        if c["notes"]:
            assert c["notes"] not in str(info.value), str(info.value)
    conn.rollback()
    again = conn.cursor(name="tw_refused")  # the name is free again after the rollback
    again.execute(CUSTOMERS_SQL)
    expect(world, "alice", CUSTOMERS_SQL, again.fetchall(), masked(world, "acme"))
    conn.rollback()


def test_sql_level_fetch_variants(connect, world):
    """FETCH and MOVE forms psycopg2 does not send, straight as SQL."""
    conn = connect("carol", autocommit=False)
    cur = conn.cursor()
    cur.execute(f"DECLARE sc SCROLL CURSOR FOR {CUSTOMERS_SQL}")
    want = masked(world, "acme")
    cur.execute("FETCH ALL FROM sc")
    expect(world, "carol", "FETCH ALL", cur.fetchall(), want)
    cur.execute("FETCH BACKWARD ALL FROM sc")
    expect(world, "carol", "FETCH BACKWARD ALL", cur.fetchall(), want[::-1])
    cur.execute("FETCH ABSOLUTE 2 FROM sc")
    expect(world, "carol", "FETCH ABSOLUTE 2", cur.fetchall(), want[1:2])
    cur.execute("MOVE FORWARD 100 IN sc")
    cur.execute("FETCH PRIOR FROM sc")
    expect(world, "carol", "FETCH PRIOR after MOVE past the end", cur.fetchall(), want[-1:])
    cur.execute("CLOSE sc")
    with pytest.raises(psycopg2.Error) as info:
        cur.execute("FETCH 1 FROM sc")
    assert info.value.pgcode == "34000", info.value
    conn.rollback()
