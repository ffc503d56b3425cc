"""The rest of the SQL surface against the real PostgreSQL: foreign keys between protected tables
(no cross-tenant reference, no existence oracle), EXPLAIN ANALYZE, psql's \\df and the
has_*_privilege functions, the tenant column as a bind parameter, and the catalog reads of
pgJDBC's DatabaseMetaData and SQLAlchemy's inspector."""
import json
import os
import subprocess

import psycopg2
import pytest

import harness
from checks import run

# globex's customers are ids 4 and 5, acme's 1 to 3 (deploy/demo/schema.sql); 999 is nobody's.
GLOBEX_CUSTOMER = 4
NO_CUSTOMER = 999
FK_MESSAGE = 'insert or update on table "orders" violates foreign key constraint "orders_customer_id_fkey"'


@pytest.fixture
def restore(pg):
    yield
    pg.reset_data()


def error_of(conn, sql, params=None) -> psycopg2.Error:
    """Runs sql, which must fail; rolls back so the connection stays usable; returns the error."""
    try:
        run(conn, sql, params)
    except psycopg2.Error as e:
        conn.rollback()
        return e
    conn.rollback()
    pytest.fail(f"{sql} succeeded", pytrace=False)


def diag(e: psycopg2.Error) -> tuple:
    """Everything a client can read off an error."""
    d = e.diag
    return (e.pgcode, d.severity, d.message_primary, d.message_detail, d.message_hint,
            d.context, d.internal_query, d.schema_name, d.table_name, d.column_name,
            d.constraint_name, d.statement_position)


# --- 1. foreign keys --------------------------------------------------------------------------

# Each write names a customer as {customer}; acme's alice writes, so 4 is another tenant's row.
FK_WRITES = [
    "INSERT INTO orders (customer_id, amount, status) VALUES ({customer}, 1, 'new')",
    "INSERT INTO orders (customer_id, amount, status) VALUES (1, 1, 'new'), ({customer}, 2, 'new')",
    "INSERT INTO orders (tenant_id, customer_id, amount, status) VALUES ('acme', {customer}, 1, 'new')",
    "INSERT INTO orders (customer_id, amount, status) SELECT {customer}, 1, 'new'",
    "INSERT INTO orders (customer_id, amount, status) SELECT id + {customer} - 1, 1, 'new' "
    "FROM customers WHERE id = 1",
    "INSERT INTO orders (customer_id, amount, status) VALUES ('{customer}', 1, 'new')",
    "UPDATE orders SET customer_id = {customer} WHERE id = 1",
    "UPDATE orders SET customer_id = {customer}, amount = 5 WHERE status = 'paid'",
    "UPDATE orders o SET customer_id = c.id + {customer} - 1 FROM customers c WHERE c.id = 1 AND o.id = 1",
    "WITH w AS (INSERT INTO orders (customer_id, amount, status) VALUES ({customer}, 1, 'new') "
    "RETURNING id) SELECT count(*) FROM w",
    "WITH w AS (UPDATE orders SET customer_id = {customer} RETURNING id) SELECT count(*) FROM w",
]


# ON CONFLICT (id): orders_pkey is unique across all tenants, so the statement is refused before
# any foreign key is looked at (policy/sql/unique_key_guard.h), the same for every customer.
ON_CONFLICT_ON_GLOBAL_KEY = [
    "INSERT INTO orders (id, customer_id, amount, status) VALUES (1, 1, 1, 'x') "
    "ON CONFLICT (id) DO UPDATE SET customer_id = {customer}",
    "INSERT INTO orders (id, customer_id, amount, status) VALUES (1, {customer}, 1, 'x') "
    "ON CONFLICT (id) DO UPDATE SET customer_id = EXCLUDED.customer_id",
    "INSERT INTO orders (customer_id, amount, status) VALUES ({customer}, 1, 'x') "
    "ON CONFLICT (id) DO UPDATE SET customer_id = EXCLUDED.customer_id",
]


@pytest.mark.parametrize("template", ON_CONFLICT_ON_GLOBAL_KEY)
def test_on_conflict_on_a_key_shared_by_all_tenants_is_refused(connect, unchanged, template):
    conn = connect("alice")
    foreign = error_of(conn, template.format(customer=GLOBEX_CUSTOMER))
    missing = error_of(conn, template.format(customer=NO_CUSTOMER))
    own = error_of(conn, template.format(customer=1))
    assert foreign.pgcode == "42501", f"{template}: {foreign.pgcode} {foreign}"
    assert diag(foreign) == diag(missing) == diag(own)
    unchanged(template)


@pytest.mark.parametrize("template", FK_WRITES)
def test_foreign_key_to_another_tenant_is_indistinguishable_from_a_missing_row(
        connect, unchanged, template):
    conn = connect("alice")
    foreign = error_of(conn, template.format(customer=GLOBEX_CUSTOMER))
    missing = error_of(conn, template.format(customer=NO_CUSTOMER))
    assert foreign.pgcode == "23503", f"{template}: {foreign.pgcode} {foreign}"
    assert foreign.diag.message_primary == FK_MESSAGE
    assert diag(foreign) == diag(missing), f"{template}: an oracle: {diag(foreign)} vs {diag(missing)}"
    assert foreign.diag.message_detail is None  # PostgreSQL's "Key (customer_id)=(4) is not present"
    unchanged(template)
    assert run(conn, "SELECT count(*) FROM orders")[1] == [(3,)]  # still usable


def test_postgres_own_foreign_key_error_is_scrubbed_the_same(connect, pg, unchanged):
    # The guard's error must read exactly as PostgreSQL's own for a missing key, once scrubbed.
    conn = connect("alice")
    guard = error_of(conn, f"INSERT INTO orders (customer_id, amount, status) VALUES ({NO_CUSTOMER}, 1, 'x')")
    with pg.superuser("app") as direct:
        cur = direct.cursor()
        try:
            cur.execute(f"INSERT INTO orders (tenant_id, customer_id, amount, status) "
                        f"VALUES ('acme', {NO_CUSTOMER}, 1, 'x')")
            pytest.fail("PostgreSQL accepted a missing customer")
        except psycopg2.Error as e:
            real = e
    assert real.pgcode == guard.pgcode == "23503"
    assert real.diag.message_primary == guard.diag.message_primary
    assert real.diag.message_detail == f"Key (customer_id)=({NO_CUSTOMER}) is not present in table \"customers\"."
    unchanged("guarded insert")


def test_foreign_key_within_the_tenant_is_written(connect, pg, restore):
    conn = connect("alice")
    _, rows = run(conn, "INSERT INTO orders (customer_id, amount, status) VALUES (2, 7, 'new') "
                        "RETURNING customer_id, tenant_id")
    assert rows == [(2, "acme")]
    conn.commit()
    _, rows = run(conn, "UPDATE orders SET customer_id = 3 WHERE amount = 7 RETURNING customer_id")
    assert rows == [(3,)]
    _, rows = run(conn, "INSERT INTO orders (customer_id, amount, status) "
                        "SELECT id, 9, 'copy' FROM customers WHERE id <= 2 RETURNING customer_id")
    assert sorted(rows) == [(1,), (2,)]
    conn.commit()
    assert pg.query("SELECT customer_id, tenant_id FROM orders WHERE amount IN (7, 9) ORDER BY 1") == \
        [(1, "acme"), (2, "acme"), (3, "acme")]
    # NULL is checked by PostgreSQL's NOT NULL as usual, not by the guard
    e = error_of(conn, "INSERT INTO orders (customer_id, amount, status) VALUES (NULL, 1, 'x')")
    assert e.pgcode == "23502"


def test_foreign_key_guard_for_bob_too(connect, unchanged):
    conn = connect("bob")
    foreign = error_of(conn, "INSERT INTO orders (customer_id, amount, status) VALUES (1, 1, 'x')")
    missing = error_of(conn, f"INSERT INTO orders (customer_id, amount, status) VALUES ({NO_CUSTOMER}, 1, 'x')")
    assert diag(foreign) == diag(missing) and foreign.pgcode == "23503"
    unchanged("bob's cross-tenant reference")


def test_copy_into_a_table_with_a_guarded_key_is_refused(proxy, unchanged):
    env = dict(os.environ, PGPASSWORD=harness.USERS["alice"][0], PGCONNECT_TIMEOUT="10")
    p = subprocess.run([harness.PSQL, proxy.conninfo("alice"), "-X", "-v", "ON_ERROR_STOP=1",
                        "-v", "VERBOSITY=verbose", "-c",
                        "COPY orders (customer_id, amount, status) FROM STDIN"],
                       input="4\t1\tx\n\\.\n", capture_output=True, text=True, timeout=30, env=env)
    assert p.returncode != 0
    assert "0A000" in p.stderr and "customer_id holds a foreign key" in p.stderr, p.stderr
    unchanged("COPY orders FROM STDIN")


# --- 4. the tenant column as a bind parameter -----------------------------------------------

from test_protocol_exact import SYNC, Session, bind, execute, parse  # noqa: E402

INSERT_BOUND = ("INSERT INTO orders (tenant_id, customer_id, amount, status) "
                "VALUES ($1, 1, 5, 'bound') RETURNING tenant_id, status")


def bound_rows(pg):
    return pg.query("SELECT tenant_id, customer_id, status FROM orders WHERE status = 'bound'")


@pytest.mark.parametrize("value,formats", [("acme", ()), ("acme", (0,)), (b"acme", (1,))])
def test_tenant_parameter_bound_to_own_tenant_is_written(proxy, pg, restore, value, formats):
    with Session(proxy, "alice") as s:
        r = s.run(parse("", INSERT_BOUND), bind("", "", [value], param_formats=formats),
                  execute(), SYNC)
        assert r.codes == [] and r.completions() == ["INSERT 0 1"], str(r)
        assert r.raw_rows() == [[b"acme", b"bound"]]
    assert bound_rows(pg) == [("acme", 1, "bound")]


@pytest.mark.parametrize("value,formats", [
    ("globex", ()), ("globex", (0,)), (b"globex", (1,)), (None, ()), ("acme ", ()), ("ACME", ()),
    (b"acme\x00", (1,)),
])
def test_tenant_parameter_bound_to_another_tenant_is_refused_at_bind(proxy, unchanged, value,
                                                                     formats):
    with Session(proxy, "alice") as s:
        r = s.run(parse("", INSERT_BOUND), bind("", "", [value], param_formats=formats),
                  execute(), SYNC)
        assert r.codes == ["42501"], str(r)
        assert r.tags == "1EZ", str(r)  # ParseComplete, the Bind's error, nothing executed
        s.assert_alive(f"a Bind of {value!r}")
    unchanged(f"INSERT with tenant bound to {value!r}")


def test_tenant_parameter_checked_at_every_bind_of_a_named_statement(proxy, pg, restore):
    with Session(proxy, "alice") as s:
        r = s.run(parse("ins", INSERT_BOUND), SYNC)
        assert r.codes == [], str(r)
        r = s.run(bind("", "ins", ["acme"]), execute(), SYNC)
        assert r.completions() == ["INSERT 0 1"], str(r)
        r = s.run(bind("", "ins", ["globex"]), execute(), SYNC)
        assert r.codes == ["42501"], str(r)
        r = s.run(bind("", "ins", ["acme"]), execute(), SYNC)
        assert r.completions() == ["INSERT 0 1"], str(r)
    assert bound_rows(pg) == [("acme", 1, "bound"), ("acme", 1, "bound")]


@pytest.mark.parametrize("sql,params,completion", [
    ("UPDATE orders SET status = 'bound' WHERE tenant_id = $1 AND id = $2", ["acme", "1"], "UPDATE 1"),
    ("UPDATE orders SET status = 'bound', tenant_id = $1 WHERE id = $2", ["acme", "1"], "UPDATE 1"),
    ("DELETE FROM orders WHERE orders.tenant_id = $1::text AND id = $2", ["acme", "1"], "DELETE 1"),
    ("SELECT count(*) FROM orders WHERE tenant_id = $1", ["acme"], "SELECT 1"),
    ("SELECT count(*) FROM customers c WHERE c.tenant_id IN ($1, 'acme')", ["acme"], "SELECT 1"),
])
def test_tenant_comparison_with_a_parameter(proxy, pg, restore, sql, params, completion):
    globex_before = pg.query("SELECT * FROM orders WHERE tenant_id = 'globex' ORDER BY id")
    with Session(proxy, "alice") as s:
        r = s.run(parse("", sql), bind("", "", params), execute(), SYNC)
        assert r.codes == [] and r.completions() == [completion], str(r)
        foreign = ["globex"] + params[1:]
        r = s.run(parse("", sql), bind("", "", foreign), execute(), SYNC)
        assert r.codes == ["42501"], f"{sql} with {foreign}: {r}"
        s.assert_alive(sql)
    assert pg.query("SELECT * FROM orders WHERE tenant_id = 'globex' ORDER BY id") == globex_before


def test_tenant_parameter_of_a_non_text_type_is_refused_at_parse(proxy, unchanged):
    with Session(proxy, "alice") as s:
        r = s.run(parse("", INSERT_BOUND, oids=(17,)), bind("", "", [b"acme"], param_formats=(1,)),
                  execute(), SYNC)  # bytea
        assert r.codes == ["42501"], str(r)
        assert "must be text" in r.errors[0].text, str(r)
        s.assert_alive("a bytea tenant parameter")
    unchanged("bytea tenant parameter")


def test_tenant_parameter_of_sql_prepare_is_refused(connect, unchanged):
    conn = connect("alice")
    e = error_of(conn, "PREPARE p(text) AS INSERT INTO orders (tenant_id, customer_id, amount, status) "
                       "VALUES ($1, 1, 5, 'bound')")
    assert e.pgcode == "42501" and "parameter of PREPARE" in e.diag.message_primary
    e = error_of(conn, "PREPARE q(text) AS UPDATE orders SET tenant_id = $1")
    assert e.pgcode == "42501" and "parameter of PREPARE" in e.diag.message_primary
    unchanged("SQL PREPARE with a tenant parameter")


# --- 3. psql's \df and the has_*_privilege functions ---------------------------------------

def test_psql_df_lists_no_functions(proxy, pg):
    # The database has a function of its own, which a tenant must not see listed.
    with pg.superuser("app") as c:
        c.cursor().execute("CREATE OR REPLACE FUNCTION public.secret_fn(x int) RETURNS int "
                           "LANGUAGE sql AS 'select x'")
        c.commit()
    try:
        for args in (("-c", "\\df"), ("-c", "\\df *.*"), ("-c", "\\df secret*")):
            r = proxy.psql(None, user="alice", args=args)
            assert r.rc == 0, f"psql {args}: {r}"
            assert r.stdout == "" and "secret_fn" not in r.stderr, f"psql {args}: {r}"
        # as PostgreSQL itself would list it (so the empty answer above is the proxy's doing)
        direct = pg.query("SELECT proname FROM pg_proc WHERE proname = 'secret_fn'")
        assert direct == [("secret_fn",)]
    finally:
        with pg.superuser("app") as c:
            c.cursor().execute("DROP FUNCTION public.secret_fn(int)")
            c.commit()


@pytest.mark.parametrize("sql,want", [
    ("SELECT has_table_privilege('customers', 'SELECT')", [(True,)]),
    ("SELECT has_table_privilege('public.countries', 'SELECT')", [(True,)]),
    ("SELECT has_table_privilege('pg_class', 'SELECT')", [(True,)]),
    ("SELECT has_any_column_privilege('orders', 'UPDATE')", [(True,)]),
    ("SELECT has_column_privilege('customers', 'email', 'SELECT')", [(True,)]),
    ("SELECT pg_get_function_arguments(oid) FROM pg_catalog.pg_proc LIMIT 1", []),
    ("SELECT c.relname FROM pg_class c WHERE c.relkind = 'r' AND has_table_privilege(c.oid, 'SELECT') "
     "AND c.relnamespace = 'public'::regnamespace ORDER BY 1",
     [("countries",), ("customers",), ("orders",), ("tenants",)]),
])
def test_privilege_functions_on_visible_relations(connect, sql, want):
    conn = connect("alice")
    assert run(conn, sql)[1] == want, sql


@pytest.mark.parametrize("hidden,missing,sqlstate", [
    ("SELECT has_table_privilege('internal_audit', 'SELECT')",
     "SELECT has_table_privilege('no_such_table', 'SELECT')", "42P01"),
    ("SELECT has_any_column_privilege('public.internal_audit', 'SELECT')",
     "SELECT has_any_column_privilege('public.no_such_table', 'SELECT')", "42P01"),
    ("SELECT has_column_privilege('internal_audit', 'payload', 'SELECT')",
     "SELECT has_column_privilege('no_such_table', 'payload', 'SELECT')", "42P01"),
    ("SELECT has_column_privilege('customers', 'notes', 'SELECT')",
     "SELECT has_column_privilege('customers', 'no_such_column', 'SELECT')", "42703"),
])
def test_privilege_functions_on_hidden_relations_read_as_missing(connect, hidden, missing,
                                                                 sqlstate):
    conn = connect("alice")
    h = error_of(conn, hidden)
    m = error_of(conn, missing)
    assert h.pgcode == m.pgcode == sqlstate, f"{hidden}: {h.pgcode} {h}; {missing}: {m.pgcode} {m}"
    # the same words as PostgreSQL's, with only the name differing
    assert h.diag.message_primary.replace("internal_audit", "X").replace("notes", "X") == \
        m.diag.message_primary.replace("no_such_table", "X").replace("no_such_column", "X")
    assert run(conn, "SELECT 1")[1] == [(1,)]


def test_privilege_functions_by_oid_answer_null_for_hidden(connect, pg):
    (hidden_oid,) = pg.query("SELECT 'public.internal_audit'::regclass::oid")[0]
    conn = connect("alice")
    assert run(conn, f"SELECT has_table_privilege({hidden_oid}::oid, 'SELECT')")[1] == [(None,)]
    assert run(conn, "SELECT has_table_privilege(999999::oid, 'SELECT')")[1] == [(None,)]
    (notes,) = pg.query("SELECT attnum FROM pg_attribute WHERE attrelid = 'public.customers'::regclass "
                        "AND attname = 'notes'")[0]
    (customers,) = pg.query("SELECT 'public.customers'::regclass::oid")[0]
    assert run(conn, f"SELECT has_column_privilege({customers}::oid, {notes}::int2, 'SELECT')")[1] == [(None,)]
    assert run(conn, f"SELECT has_column_privilege({customers}::oid, 'notes', 'SELECT')")[1] == [(None,)]
    assert run(conn, f"SELECT has_column_privilege({customers}::oid, 'email', 'SELECT')")[1] == [(True,)]


def test_privilege_function_naming_a_role_is_refused(connect):
    conn = connect("alice")
    e = error_of(conn, "SELECT has_table_privilege('postgres', 'customers', 'SELECT')")
    assert e.pgcode == "42501"


# --- 5. pgJDBC DatabaseMetaData and SQLAlchemy's inspector ----------------------------------

HERE = os.path.dirname(os.path.abspath(__file__))
DRIVER = "/usr/share/java/postgresql.jar"


@pytest.fixture(scope="module")
def jdbc_metadata(tmp_path_factory):
    out = tmp_path_factory.mktemp("jdbc_metadata")
    subprocess.run(["javac", "-d", str(out), os.path.join(HERE, "clients/JdbcMetadata.java")],
                   check=True, capture_output=True, timeout=120)
    return out


@pytest.mark.parametrize("user", ["alice", "bob"])
def test_jdbc_database_metadata(jdbc_metadata, proxy, user):
    p = subprocess.run(["java", "-cp", f"{jdbc_metadata}:{DRIVER}", "JdbcMetadata", str(proxy.port),
                        user, harness.USERS[user][0]], capture_output=True, text=True, timeout=120)
    assert p.returncode == 0, p.stdout + p.stderr
    seen = dict(line.split("=", 1) for line in p.stdout.splitlines() if "=" in line)
    assert "error" not in seen, seen
    assert seen["tables"] == "public.countries,public.customers,public.orders,public.tenants", seen
    assert seen["columns.customers"] == ("id:serial,tenant_id:text,name:text,email:text,phone:text,"
                                         "ssn:text"), seen  # no notes; masked ones present
    assert seen["columns.orders"] == ("id:serial,tenant_id:text,customer_id:int4,amount:numeric,"
                                      "status:text,created_at:timestamptz"), seen
    assert seen["columns.countries"] == "code:text,name:text"
    assert seen["columns.internal_audit"] == "" and seen["pk.internal_audit"] == ""
    assert seen["pk.customers"] == "id" and seen["pk.orders"] == "id" and seen["pk.countries"] == "code"
    assert sorted(seen["fk.orders"].split(",")) == ["customer_id->customers.id", "tenant_id->tenants.id"]
    assert seen["fk.customers"] == "tenant_id->tenants.id"
    assert seen["fk.internal_audit"] == ""


def test_sqlalchemy_inspector(proxy):
    import sqlalchemy as sa
    engine = sa.create_engine(f"postgresql+psycopg2://bob:bob-secret@127.0.0.1:{proxy.port}/app"
                              "?sslmode=disable", poolclass=sa.pool.NullPool)
    try:
        inspector = sa.inspect(engine)
        assert sorted(inspector.get_table_names()) == ["countries", "customers", "orders", "tenants"]
        assert [c["name"] for c in inspector.get_columns("customers")] == \
            ["id", "tenant_id", "name", "email", "phone", "ssn"]
        assert [(c["name"], str(c["type"])) for c in inspector.get_columns("orders")] == [
            ("id", "INTEGER"), ("tenant_id", "TEXT"), ("customer_id", "INTEGER"),
            ("amount", "NUMERIC(10, 2)"), ("status", "TEXT"), ("created_at", "TIMESTAMP")]
        assert inspector.get_pk_constraint("orders")["constrained_columns"] == ["id"]
        fks = sorted((fk["constrained_columns"], fk["referred_table"], fk["referred_columns"])
                     for fk in inspector.get_foreign_keys("orders"))
        assert fks == [(["customer_id"], "customers", ["id"]), (["tenant_id"], "tenants", ["id"])]
        assert [(fk["constrained_columns"], fk["referred_table"])
                for fk in inspector.get_foreign_keys("customers")] == [(["tenant_id"], "tenants")]
        assert not inspector.has_table("internal_audit")
        with pytest.raises(sa.exc.NoSuchTableError):
            inspector.get_columns("internal_audit")
    finally:
        engine.dispose()


# --- 2. EXPLAIN ANALYZE -------------------------------------------------------------------------

FENCED_CUSTOMERS = ("SELECT name FROM (SELECT id, tenant_id, name FROM public.customers "
                    "WHERE tenant_id OPERATOR(pg_catalog.=) 'acme' OFFSET 0) customers")


def test_explain_analyze_would_count_other_tenants_rows(pg):
    """Why the proxy renders EXPLAIN ANALYZE's plan itself: run on the fenced statement it
    forwards, even with every option that can be turned off, PostgreSQL reports how many rows the
    tenant filter removed, that is how many rows other tenants have (globex has 2 customers); no
    option removes that line, so the proxy asks for JSON and keeps only allowlisted keys
    (policy/explain_render.h, test_explain_analyze.py)."""
    plan = [r[0] for r in pg.query("EXPLAIN (ANALYZE, COSTS OFF, TIMING OFF, SUMMARY OFF, "
                                   "BUFFERS OFF) " + FENCED_CUSTOMERS)]
    assert any(line.strip() == "Rows Removed by Filter: 2" for line in plan), plan


@pytest.mark.parametrize("sql", [
    "EXPLAIN ANALYZE SELECT name FROM customers",
    "EXPLAIN (ANALYZE, COSTS OFF, TIMING OFF, SUMMARY OFF) SELECT name FROM customers",
    "EXPLAIN (ANALYZE true, FORMAT JSON) SELECT count(*) FROM customers",
])
def test_explain_analyze_counts_only_the_tenants_rows(connect, unchanged, sql):
    conn = connect("alice")
    columns, rows = run(conn, sql)
    assert columns == ["QUERY PLAN"]
    text = json.dumps([r[0] for r in rows])
    assert "Rows Removed" not in text, text
    assert "actual rows=3 loops=1" in text or '"Actual Rows": 3' in text, text  # acme's 3
    unchanged(sql)


def test_pg_settings_shows_only_compile_time_limits(connect):
    conn = connect("alice")
    _, rows = run(conn, "SELECT name, setting FROM pg_settings ORDER BY name")
    assert [name for name, _ in rows] == ["block_size", "max_function_args", "max_identifier_length",
                                          "max_index_keys"], rows
    _, rows = run(conn, "SELECT setting FROM pg_settings WHERE name IN ('shared_buffers', "
                        "'data_directory', 'hba_file', 'password_encryption')")
    assert rows == []
