"""Refusals: the exact SQLSTATE, nothing changed in the database, nothing forwarded to PostgreSQL,
and the session still usable afterwards, in autocommit and in transaction mode."""
import secrets
import signal
import time

import psycopg2
import psycopg2.extensions
import pytest

from checks import assert_text_clean, run, tenant_of

EXPECTED_COUNT = {"acme": 3, "globex": 2}

# (user, sql, sqlstate): reads the policy refuses.
READ_REFUSALS = [
    # cross-tenant intent (DESIGN 4): refused, not silently emptied
    ("alice", "SELECT * FROM customers WHERE tenant_id = 'globex'", "42501"),
    ("carol", "SELECT * FROM customers WHERE tenant_id = 'globex'", "42501"),
    ("bob", "SELECT * FROM customers WHERE tenant_id = 'acme'", "42501"),
    ("alice", "SELECT * FROM orders o WHERE o.tenant_id = 'globex'", "42501"),
    ("alice", "SELECT * FROM customers WHERE 'globex' = tenant_id", "42501"),
    ("alice", "SELECT * FROM customers WHERE tenant_id IN ('acme', 'globex')", "42501"),
    ("alice", "SELECT * FROM tenants WHERE id = 'globex'", "42501"),
    ("alice", "SELECT count(*) FROM orders WHERE customer_id IN "
              "(SELECT id FROM customers WHERE tenant_id = 'globex')", "42501"),
    ("alice", "SELECT c.name FROM customers c JOIN orders o ON o.customer_id = c.id "
              "AND o.tenant_id = 'globex'", "42501"),
    # relations outside the policy
    ("alice", "SELECT * FROM internal_audit", "42501"),
    ("alice", "SELECT * FROM public.internal_audit", "42501"),
    ("alice", "SELECT payload FROM internal_audit WHERE id = 1", "42501"),
    ("alice", "SELECT * FROM customers WHERE EXISTS (SELECT 1 FROM internal_audit)", "42501"),
    ("alice", "SELECT name FROM customers UNION SELECT payload FROM internal_audit", "42501"),
    ("alice", "WITH a AS (SELECT * FROM internal_audit) SELECT * FROM a", "42501"),
    ("bob", "SELECT (SELECT payload FROM internal_audit LIMIT 1) AS p", "42501"),
    ("alice", "SELECT * FROM pg_catalog.pg_authid", "42501"),
    ("alice", "SELECT rolpassword FROM pg_authid", "42501"),
    ("alice", "SELECT * FROM pg_shadow", "42501"),
    ("alice", "SELECT * FROM pg_stat_activity", "42501"),
    ("alice", "SELECT * FROM pg_catalog.pg_stat_activity", "42501"),
    ("alice", "SELECT * FROM pg_stats", "42501"),
    ("alice", "SELECT * FROM nosuchtable", "42501"),
    # functions outside the allowlist
    ("alice", "SELECT pg_sleep(1)", "42501"),
    ("alice", "SELECT pg_catalog.pg_sleep(1)", "42501"),
    ("alice", "SELECT pg_read_file('/etc/passwd')", "42501"),
    ("alice", "SELECT pg_catalog.pg_read_file('/etc/passwd')", "42501"),
    ("alice", "SELECT set_config('search_path', 'evil', false)", "42501"),
    ("alice", "SELECT name FROM customers WHERE set_config('row_security', 'off', true) IS NOT NULL",
     "42501"),
    ("alice", "SELECT query_to_xml('select * from internal_audit', true, true, '')", "42501"),
    ("alice", "SELECT lo_import('/etc/passwd')", "42501"),
    ("alice", "SELECT count(*) FROM customers WHERE pg_sleep(0) IS NOT NULL", "42501"),
]

# (sql, sqlstate): writes that would cross the tenant boundary or touch what the policy does
# not allow, DDL and session changes; the database must not change. (Writes to alice's own rows
# are allowed and tested in test_scoped_writes below.)
WRITE_REFUSALS = [
    ("INSERT INTO customers (tenant_id, name) VALUES ('globex', 'Mallory')", "42501"),
    ("INSERT INTO orders (tenant_id, customer_id, amount, status) VALUES ('globex', 4, 1, 'paid')",
     "42501"),
    ("UPDATE customers SET tenant_id = 'globex' WHERE id = 1", "42501"),
    ("INSERT INTO customers (tenant_id, name) SELECT 'globex', name FROM customers", "42501"),
    ("UPDATE customers SET notes = 'x'", "42501"),
    ("INSERT INTO customers (name, notes) VALUES ('x', 'y')", "42501"),
    ("UPDATE countries SET name = 'x'", "42501"),
    ("DELETE FROM countries", "42501"),
    ("MERGE INTO customers c USING countries k ON false WHEN NOT MATCHED THEN "
     "INSERT (name) VALUES (k.name)", "0A000"),
    ("DELETE FROM internal_audit", "42501"),
    ("INSERT INTO countries VALUES ('FR', 'France')", "42501"),
    ("TRUNCATE customers", "42501"),
    ("CREATE TABLE evil (x int)", "42501"),
    ("CREATE TEMP TABLE t AS SELECT * FROM customers", "42501"),
    ("SELECT * INTO newt FROM customers", "42501"),
    ("CREATE VIEW v AS SELECT * FROM customers", "42501"),
    ("CREATE FUNCTION f() RETURNS int LANGUAGE sql AS 'select 1'", "42501"),
    ("DROP TABLE customers", "42501"),
    ("ALTER TABLE customers ADD COLUMN y int", "42501"),
    ("GRANT ALL ON customers TO public", "42501"),
    ("DO $$ BEGIN DELETE FROM orders; END $$", "42501"),
    ("SET search_path = evil", "42501"),
    ("SET ROLE postgres", "42501"),
    ("SET SESSION AUTHORIZATION postgres", "42501"),
    ("SET row_security = off", "42501"),
    ("RESET ALL", "42501"),
]

SYNTAX_ERRORS = ["SELEC 1", "SELECT FROM WHERE", "SELECT * FROM customers WHERE", "SELECT 'unterminated"]


def refused(conn, sql):
    """Runs sql, expecting an error; returns the psycopg2 error."""
    with pytest.raises(psycopg2.Error) as info:
        run(conn, sql)
    return info.value


def assert_usable(conn, user, after):
    want = EXPECTED_COUNT[tenant_of(user)]
    try:
        _, rows = run(conn, "SELECT count(*) FROM customers")
    except psycopg2.Error as e:
        pytest.fail(f"as {user}: connection unusable after {after!r}: {e.pgcode} {e}", pytrace=False)
    assert rows == [(want,)], f"as {user}: after {after!r}, SELECT count(*) gave {rows}"


@pytest.mark.parametrize("user,sql,code", READ_REFUSALS, ids=[f"{u}:{s[:60]}" for u, s, _ in READ_REFUSALS])
def test_read_refused(connect, world, user, sql, code):
    conn = connect(user)
    e = refused(conn, sql)
    assert e.pgcode == code, f"as {user}: {sql}\n  got {e.pgcode}: {e}\n  want {code}"
    assert e.pgerror and e.pgerror.startswith("ERROR:"), f"as {user}: {sql}: no ERROR message: {e!r}"
    assert_text_clean(world, user, f"the error for {sql}", str(e), typed=sql)
    assert_usable(conn, user, sql)


@pytest.mark.parametrize("sql,code", WRITE_REFUSALS, ids=[s[:60] for s, _ in WRITE_REFUSALS])
def test_write_refused_and_database_unchanged(connect, unchanged, sql, code):
    conn = connect("alice")
    e = refused(conn, sql)
    assert e.pgcode == code, f"as alice: {sql}\n  got {e.pgcode}: {e}\n  want {code}"
    unchanged(f"as alice: {sql}")
    assert_usable(conn, "alice", sql)


def test_write_refused_inside_transaction(connect, unchanged):
    conn = connect("bob", autocommit=False)
    run(conn, "SELECT 1")
    e = refused(conn, "UPDATE customers SET tenant_id = 'acme'")
    assert e.pgcode == "42501", f"as bob: UPDATE in a transaction gave {e.pgcode} {e}"
    conn.rollback()
    unchanged("as bob: UPDATE customers SET tenant_id = 'acme' in a transaction, then ROLLBACK")
    assert_usable(conn, "bob", "UPDATE in a rolled back transaction")
    conn.commit()


@pytest.mark.parametrize("sql", SYNTAX_ERRORS)
def test_syntax_error(connect, sql):
    conn = connect("alice")
    e = refused(conn, sql)
    assert e.pgcode == "42601", f"as alice: {sql}: got {e.pgcode} {e}, want 42601"
    assert_usable(conn, "alice", sql)


@pytest.mark.parametrize("user", ["alice", "bob"])
def test_many_refusals_on_one_connection(connect, user):
    conn = connect(user)
    mine = [(sql, code) for u, sql, code in READ_REFUSALS
            if tenant_of(u) == tenant_of(user) or ("'acme'" not in sql and "'globex'" not in sql)]
    for sql, code in mine:
        e = refused(conn, sql)
        assert e.pgcode == code, f"as {user}: {sql}: {e.pgcode} {e}"
    writes = [sql for sql, _ in WRITE_REFUSALS if "'acme'" not in sql and "'globex'" not in sql]
    for sql in writes:
        refused(conn, sql)
    assert_usable(conn, user, f"{len(mine) + len(writes)} refusals in a row")


def test_refusal_in_transaction_needs_rollback(connect):
    """Inside a transaction a refusal aborts it, as PostgreSQL would: the next statement fails
    with 25P02 until ROLLBACK, and the connection is then fine."""
    conn = connect("alice", autocommit=False)
    _, rows = run(conn, "SELECT count(*) FROM customers")
    assert rows == [(3,)]
    e = refused(conn, "SELECT * FROM internal_audit")
    assert e.pgcode == "42501", f"in a transaction: SELECT * FROM internal_audit gave {e.pgcode} {e}"
    status = conn.info.transaction_status
    assert status == psycopg2.extensions.TRANSACTION_STATUS_INERROR, (
        f"after a refusal inside a transaction, ReadyForQuery status is {status}, want INERROR "
        f"({psycopg2.extensions.TRANSACTION_STATUS_INERROR}): the client believes its transaction "
        f"is still good")
    e = refused(conn, "SELECT count(*) FROM customers")
    assert e.pgcode == "25P02", f"statement after a refusal in a transaction gave {e.pgcode} {e}"
    conn.rollback()
    assert_usable(conn, "alice", "a refusal in a transaction and ROLLBACK")
    conn.commit()


def test_refusal_in_transaction_then_commit_does_not_commit(connect, pg):
    """COMMIT after a refused statement must roll the transaction back (PostgreSQL answers
    ROLLBACK), so a client cannot half-apply a transaction it was told failed."""
    conn = connect("alice", autocommit=False)
    run(conn, "SELECT 1")
    refused(conn, "SELECT pg_sleep(0)")
    cur = conn.cursor()
    try:
        cur.execute("COMMIT")
    except psycopg2.Error as e:
        pytest.fail(f"COMMIT after a refusal failed: {e.pgcode} {e}", pytrace=False)
    assert cur.statusmessage == "ROLLBACK", (
        f"COMMIT after a refused statement answered {cur.statusmessage!r}, want 'ROLLBACK'")
    conn.rollback()
    assert_usable(conn, "alice", "COMMIT after a refusal")


def test_refusal_in_explicit_block_autocommit(connect):
    """BEGIN / refusal / ROLLBACK sent as separate statements on an autocommit connection."""
    conn = connect("bob")
    run(conn, "BEGIN")
    e = refused(conn, "SELECT * FROM customers WHERE tenant_id = 'acme'")
    assert e.pgcode == "42501", f"{e.pgcode} {e}"
    run(conn, "ROLLBACK")
    assert_usable(conn, "bob", "BEGIN, cross-tenant refusal, ROLLBACK")


def test_savepoint_recovers_after_refusal(connect):
    conn = connect("alice")
    run(conn, "BEGIN")
    run(conn, "SAVEPOINT s1")
    refused(conn, "SELECT * FROM internal_audit")
    run(conn, "ROLLBACK TO SAVEPOINT s1")
    _, rows = run(conn, "SELECT count(*) FROM customers")
    run(conn, "COMMIT")
    assert rows == [(3,)], f"after ROLLBACK TO SAVEPOINT: {rows}"


def test_refused_statements_never_reach_postgres(connect, pg):
    """The refused text is not forwarded: a unique literal in it never shows up in the
    PostgreSQL statement log (log_statement = all), while an allowed one does."""
    mark = "twmark" + secrets.token_hex(6)
    conn = connect("alice")
    statements = [
        f"SELECT '{mark}' AS m, * FROM customers WHERE tenant_id = 'globex'",
        f"SELECT '{mark}' AS m, * FROM internal_audit",
        f"SELECT '{mark}' AS m, pg_sleep(0)",
        f"DELETE FROM internal_audit WHERE payload <> '{mark}'",
        f"UPDATE customers SET tenant_id = 'globex' WHERE name <> '{mark}'",
        f"SELECT '{mark}' AS m; SELECT * FROM internal_audit",
        f"SET search_path = '{mark}'",
    ]
    for sql in statements:
        e = refused(conn, sql)
        assert e.pgcode == "42501", f"{sql}: {e.pgcode} {e}"
    control = f"SELECT '{mark}ok' AS m FROM customers"
    run(conn, control)
    log = pg.read_log()
    assert f"{mark}ok" in log, "the allowed control statement is not in the PostgreSQL log: the " \
                               "log check does not work"
    leaked = [line for line in log.splitlines() if mark in line and f"{mark}ok" not in line]
    assert not leaked, f"refused statements reached PostgreSQL:\n" + "\n".join(leaked)


def test_cross_tenant_error_names_no_data(connect, world):
    conn = connect("alice")
    e = refused(conn, "SELECT name, ssn FROM customers WHERE tenant_id = 'globex' AND name = 'Gina Grant'")
    assert e.pgcode == "42501"
    # the message may echo what alice typed, but nothing else of globex
    text = str(e).replace("'globex'", "").replace("Gina Grant", "")
    for c in world.customers_of("globex"):
        for k in ("email", "phone", "ssn", "notes"):
            assert not c[k] or c[k] not in text, f"error carries {c[k]!r}: {e}"


# (sql): writes alice may run; they must touch acme's rows only.
SCOPED_WRITES = [
    "UPDATE customers SET name = 'pwned'",
    "UPDATE customers SET name = 'pwned' WHERE id = 4",  # globex's row: no effect
    "UPDATE orders SET amount = 0 WHERE customer_id IN (4, 5)",
    "DELETE FROM orders",
    "DELETE FROM customers WHERE id IN (4, 5) RETURNING id",
    "WITH d AS (DELETE FROM orders RETURNING *) SELECT count(*) FROM d",
    "UPDATE orders o SET amount = 1 FROM customers c WHERE c.id = o.customer_id",
    "INSERT INTO customers (name) VALUES ('Mallory')",
    "INSERT INTO customers (tenant_id, name) VALUES ('acme', 'Mallory')",
    "INSERT INTO customers (name) SELECT name FROM customers",
]

# Writes that choose a value of customers.id, unique across all tenants: refused outright
# (policy/sql/unique_key_guard.h), so they can neither touch nor reveal globex's customer 4.
KEY_CHOOSING_WRITES = [
    "INSERT INTO customers (id, name) VALUES (4, 'clash') ON CONFLICT (id) DO UPDATE SET name = 'pwned'",
    "INSERT INTO customers (id, name) VALUES (4, 'clash') ON CONFLICT DO NOTHING",
    "INSERT INTO customers (id, name) VALUES (4, 'clash')",
    "UPDATE customers SET id = 4 WHERE id = 3",
]


@pytest.mark.parametrize("sql", KEY_CHOOSING_WRITES)
def test_writes_choosing_a_key_shared_by_all_tenants_are_refused(connect, pg, sql):
    before = {t: pg.query(f"SELECT * FROM {t} ORDER BY id") for t in ("customers", "orders")}
    conn = connect("alice")
    try:
        with pytest.raises(psycopg2.Error) as refused:
            run(conn, sql)
        assert refused.value.pgcode == "42501", f"as alice: {sql} gave {refused.value.pgcode}"
        assert refused.value.diag.message_primary == (
            "column customers.id is unique across all tenants: a tenant cannot choose its value")
        for t, rows in before.items():
            assert pg.query(f"SELECT * FROM {t} ORDER BY id") == rows, f"as alice: {sql} changed {t}"
    finally:
        pg.reset_data()


@pytest.mark.parametrize("sql", SCOPED_WRITES)
def test_scoped_writes_never_touch_another_tenant(connect, pg, sql):
    others = {t: pg.query(f"SELECT * FROM {t} WHERE tenant_id = 'globex' ORDER BY id")
              for t in ("customers", "orders")}
    conn = connect("alice")
    try:
        try:
            run(conn, sql)
        except psycopg2.Error as e:
            # A foreign-key or unique violation is PostgreSQL's answer about acme's own rows.
            assert e.pgcode in ("23503", "23505"), f"as alice: {sql} gave {e.pgcode} {e}"
        for t, rows in others.items():
            after = pg.query(f"SELECT * FROM {t} WHERE tenant_id = 'globex' ORDER BY id")
            assert after == rows, f"as alice: {sql} changed globex's {t}: {rows} -> {after}"
        assert pg.query("SELECT DISTINCT tenant_id FROM customers ORDER BY 1") == [("acme",), ("globex",)]
    finally:
        pg.reset_data()


def test_own_tenant_writes_take_effect(connect, pg):
    conn = connect("alice")
    try:
        _, rows = run(conn, "INSERT INTO customers (name, ssn) VALUES ('Newbie', '999-88-7777') "
                            "RETURNING tenant_id, name, ssn")
        assert rows == [("acme", "Newbie", "***-**-7777")], rows  # RETURNING is masked
        _, rows = run(conn, "UPDATE customers SET name = 'Renamed' WHERE name = 'Newbie' RETURNING name")
        assert rows == [("Renamed",)]
        assert pg.query("SELECT tenant_id, ssn FROM customers WHERE name = 'Renamed'") == \
            [("acme", "999-88-7777")]
        _, rows = run(conn, "DELETE FROM customers WHERE name = 'Renamed' RETURNING id")
        assert len(rows) == 1
        assert pg.query("SELECT count(*) FROM customers WHERE name = 'Renamed'") == [(0,)]
    finally:
        pg.reset_data()


def test_expression_and_partial_unique_indexes_guard_the_columns_they_read(pg, start_proxy):
    # Read from the live database at the proxy's start: lower(name) is unique across tenants
    # among rows with a phone, so name (the expression) and phone (the predicate) are guarded.
    with pg.superuser("app") as c:
        c.cursor().execute("CREATE UNIQUE INDEX customers_lower_name_key ON public.customers "
                           "(lower(name)) WHERE phone IS NOT NULL")
    try:
        conn = start_proxy().connect("alice")
        for sql, column in (("INSERT INTO customers (name) VALUES ('Gloria')", "name"),
                            ("UPDATE customers SET name = 'Gloria' WHERE id = 1", "name"),
                            ("UPDATE customers SET phone = '555-0100' WHERE id = 1", "phone")):
            with pytest.raises(psycopg2.Error) as refused:
                run(conn, sql)
            assert refused.value.pgcode == "42501", f"{sql}: {refused.value}"
            assert refused.value.diag.message_primary == (
                f"column customers.{column} is unique across all tenants: a tenant cannot choose its value")
        conn.close()
        # The same key made unique per tenant needs no guard.
        with pg.superuser("app") as c:
            c.cursor().execute("DROP INDEX public.customers_lower_name_key; "
                               "CREATE UNIQUE INDEX customers_lower_name_key ON public.customers "
                               "(tenant_id, lower(name)) WHERE phone IS NOT NULL")
        conn = start_proxy().connect("alice")
        _, rows = run(conn, "UPDATE customers SET name = 'Renamed' WHERE id = 1 RETURNING name")
        assert rows == [("Renamed",)]
        conn.close()
    finally:
        with pg.superuser("app") as c:
            c.cursor().execute("DROP INDEX IF EXISTS public.customers_lower_name_key")
        pg.reset_data()


def test_unique_index_created_while_running_is_guarded_after_a_reload(pg, start_proxy):
    # A running proxy re-reads the schema facts right after a policy reload (and every 10 s).
    px = start_proxy()
    conn = px.connect("alice")
    try:
        _, rows = run(conn, "UPDATE customers SET name = 'Before' WHERE id = 1 RETURNING name")
        assert rows == [("Before",)]
        with pg.superuser("app") as c:
            c.cursor().execute("CREATE UNIQUE INDEX customers_name_key ON public.customers (name)")
        px.process.send_signal(signal.SIGHUP)
        deadline = time.monotonic() + 5
        while True:
            try:
                run(conn, "UPDATE customers SET name = 'After' WHERE id = 1")
                refused = None
            except psycopg2.Error as e:
                refused = e
            if refused is not None or time.monotonic() > deadline:
                break
            time.sleep(0.1)
        assert refused is not None, "the new global unique key stayed unguarded after a reload"
        assert refused.pgcode == "42501", refused
        assert refused.diag.message_primary == (
            "column customers.name is unique across all tenants: a tenant cannot choose its value")
    finally:
        conn.close()
        with pg.superuser("app") as c:
            c.cursor().execute("DROP INDEX IF EXISTS public.customers_name_key")
        pg.reset_data()
