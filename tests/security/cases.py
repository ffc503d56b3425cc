"""The attack table: (family, statements, expected outcome) for acme's user alice.

expect is one of
  "truth"          the statement runs and returns exactly the rows the tenant oracle gives
                   (harness.Postgres.truth: acme's rows, masked before any expression sees them)
  "clean"          it runs, and no returned value is another tenant's or an unmasked protected one
  "rows:[...]"     it runs and returns exactly these rows (a Python literal), in this order
  "SQLSTATE"       it is refused with this SQLSTATE
  "SQLSTATE: msg"  ... and the error message starts with msg
Every outcome is also checked for forbidden text in error messages, and the database for writes
that touched another tenant's rows (or any row, for a refusal).
"""
from dataclasses import dataclass


@dataclass(frozen=True)
class Case:
    family: str
    statements: tuple[str, ...]
    expect: str
    name: str
    copy_data: str | None = None
    writes_own_rows: bool = False  # a permitted write to acme's rows: restore the data after it
    leak: str | None = None  # a known leak: the case asserts the secure outcome and is xfail(strict)


CASES: list[Case] = []


def C(family, sql, expect, name=None, copy_data=None, writes=False, leak=None):
    statements = (sql,) if isinstance(sql, str) else tuple(sql)
    n = sum(1 for c in CASES if c.family == family)
    CASES.append(Case(family, statements, expect, name or f"{family}-{n:02d}", copy_data, writes, leak))


DENIED = "42501"

# --- parser differentials: quoting, strings, escapes, comments, dollar quotes, encodings ---------
P = "parser"
C(P, "SELECT name FROM customers WHERE name = 'x'' OR tenant_id = ''globex'", "truth")
C(P, "SELECT name FROM customers WHERE name = E'x\\' OR tenant_id = \\'globex'", "truth")
C(P, "SELECT name FROM customers WHERE name = 'x\\' OR tenant_id = 'globex' --'", DENIED)
C(P, "SELECT name FROM customers WHERE name = E'\\x27 OR true --'", "truth")
C(P, "SELECT name FROM customers WHERE name = U&'\\0027 OR tenant_id = \\0027globex'", "truth")
C(P, "SELECT name FROM customers WHERE name = U&'!0027' UESCAPE '!' OR true", "truth")
C(P, 'SELECT name FROM U&"cust\\006fmers"', "truth")
C(P, 'SELECT name FROM U&"cust!006fmers" UESCAPE \'!\'', "truth")
C(P, 'SELECT * FROM U&"intern\\0061l_audit"', DENIED)
C(P, 'SELECT * FROM U&"intern!0061l_audit" UESCAPE \'!\'', DENIED)
C(P, "SELECT name FROM customers /* /* nested */ WHERE tenant_id = 'globex' */", "truth")
C(P, "SELECT name FROM customers /* unterminated /* nested */", "42601")
C(P, "SELECT name FROM customers -- WHERE false\n WHERE true", "truth")
C(P, "SELECT name FROM customers WHERE name = $$x' OR tenant_id = 'globex$$", "truth")
C(P, "SELECT name FROM customers WHERE name = $q$x$$ OR true $$x$q$", "truth")
C(P, "SELECT name FROM customers WHERE tenant_id = $$globex$$", DENIED)
C(P, "SELECT name FROM customers WHERE tenant_id = E'glob\\x65x'", DENIED)
C(P, "SELECT name FROM customers WHERE tenant_id = U&'glob\\0065x'", DENIED)
C(P, "SELECT name FROM customers WHERE tenant_id = 'glo' || 'bex'", "truth")
C(P, "SELECT name FROM customers WHERE tenant_id = lower('GLOBEX')", "truth")
C(P, "SELECT name FROM customers WHERE tenant_id::text = 'globex'::text", DENIED)
C(P, "SELECT name FROM customers WHERE tenant_id <> 'acme'", "truth")
C(P, "SELECT name FROM customers WHERE NOT (tenant_id = 'acme')", "truth")
C(P, "SELECT name FROM customers WHERE tenant_id LIKE 'g%'", "truth")
C(P, "SET standard_conforming_strings = off", DENIED)
C(P, "SET client_encoding = 'SJIS'", DENIED)
C(P, "SET escape_string_warning = off", DENIED)
C(P, "SELECT name FROM customers WHERE name = 'a';SELECT * FROM internal_audit", DENIED)
C(P, "SELECT 1; SELECT * FROM customers WHERE tenant_id = 'globex'", DENIED)
C(P, '"SELECT" name FROM customers', "42601")

# --- every place a relation can appear --------------------------------------------------------
R = "placement"
PLACES = [
    ("from", "SELECT * FROM {t}"),
    ("join", "SELECT c.name FROM countries k JOIN {t} x ON true CROSS JOIN customers c"),
    ("left-join", "SELECT c.name FROM customers c LEFT JOIN {t} x ON true"),
    ("select-subquery", "SELECT (SELECT count(*) FROM {t}) AS n"),
    ("where-in", "SELECT name FROM customers WHERE id IN (SELECT 1 FROM {t})"),
    ("where-exists", "SELECT name FROM customers WHERE EXISTS (SELECT 1 FROM {t})"),
    ("having", "SELECT count(*) FROM customers HAVING count(*) < (SELECT count(*) + 100 FROM {t})"),
    ("order-by", "SELECT name FROM customers ORDER BY (SELECT count(*) FROM {t})"),
    ("limit", "SELECT name FROM customers LIMIT (SELECT count(*) FROM {t})"),
    ("offset", "SELECT name FROM customers OFFSET (SELECT count(*) - count(*) FROM {t})"),
    ("lateral", "SELECT c.name, x.n FROM customers c, LATERAL (SELECT count(*) AS n FROM {t}) x"),
    ("cte", "WITH x AS (SELECT * FROM {t}) SELECT count(*) FROM x"),
    ("cte-recursive", "WITH RECURSIVE r(n) AS (SELECT count(*) FROM {t} UNION ALL "
                      "SELECT n + 1 FROM r WHERE n < 0) SELECT * FROM r"),
    ("union", "SELECT count(*) FROM customers UNION ALL SELECT count(*) FROM {t}"),
    ("intersect", "SELECT count(*) FROM customers INTERSECT SELECT count(*) FROM {t}"),
    ("except", "SELECT count(*) FROM {t} EXCEPT SELECT -1"),
    ("values", "SELECT * FROM (VALUES ((SELECT count(*) FROM {t}))) v(n)"),
    ("function-arg", "SELECT coalesce((SELECT count(*) FROM {t}), 0) AS n"),
    ("array", "SELECT array(SELECT count(*) FROM {t}) AS a"),
    ("table", "TABLE {t}"),
    ("group-by", "SELECT count(*) FROM customers GROUP BY (SELECT count(*) FROM {t})"),
    ("window", "SELECT name, rank() OVER (ORDER BY (SELECT count(*) FROM {t})) FROM customers"),
    ("case", "SELECT CASE WHEN (SELECT count(*) FROM {t}) > 0 THEN 1 ELSE 0 END AS b"),
    ("any", "SELECT name FROM customers WHERE 0 < ANY (SELECT count(*) FROM {t})"),
    ("join-on", "SELECT c.name FROM customers c JOIN countries k ON EXISTS (SELECT 1 FROM {t})"),
    ("filter", "SELECT count(*) FILTER (WHERE EXISTS (SELECT 1 FROM {t})) FROM customers"),
    ("insert-select", "INSERT INTO orders (tenant_id, customer_id, amount, status) "
                      "SELECT 'acme', 1, count(*), 'x' FROM {t} WHERE false"),
    ("update-from", "UPDATE orders SET status = status FROM {t} x WHERE false"),
    ("delete-using", "DELETE FROM orders USING {t} x WHERE false"),
]
for place, template in PLACES:
    C(R, template.format(t="internal_audit"), DENIED, f"{R}-{place}-unlisted")
    C(R, template.format(t="customers_archive"), DENIED, f"{R}-{place}-child-table")
    if not place.startswith(("insert", "update", "delete")):
        C(R, template.format(t="customers"), "truth", f"{R}-{place}-protected")
C(R, "SELECT x.name FROM customers c NATURAL JOIN customers x", "truth", f"{R}-natural-join")
C(R, "SELECT * FROM orders FULL JOIN customers USING (id)", "truth", f"{R}-full-join-using")
C(R, "SELECT DISTINCT ON (tenant_id) tenant_id, name FROM customers ORDER BY tenant_id, name",
  "truth", f"{R}-distinct-on")
C(R, "SELECT name FROM customers c WHERE id = ANY (ARRAY(SELECT customer_id FROM orders))",
  "truth", f"{R}-any-array")
C(R, "SELECT (SELECT name FROM customers WHERE id = 4) AS n", "truth", f"{R}-scalar-by-other-id")
C(R, "SELECT * FROM orders o WHERE o.customer_id IN (4, 5)", "truth", f"{R}-other-ids")

# --- spellings of one relation ----------------------------------------------------------------
S = "spelling"
for spelling in ("CUSTOMERS", '"customers"', "public.customers", '"public"."customers"',
                 "PUBLIC.Customers", "app.public.customers", " customers ", "public . customers"):
    C(S, f"SELECT name, ssn, email FROM {spelling}", DENIED if "app." in spelling else
      "truth" if "public" not in spelling.lower() else "clean", f"{S}-{spelling.strip()}")
C(S, 'SELECT * FROM "Customers"', "42501: relation \"Customers\" is not allowed")
C(S, "SELECT * FROM postgres.public.customers", "42501: relation \"postgres.public.customers\" is not allowed")
C(S, "SELECT * FROM app_truth.public.customers", DENIED)
C(S, "SELECT * FROM pg_temp.customers", DENIED)
C(S, "SELECT * FROM evil.customers", DENIED)
C(S, "SELECT * FROM pg_catalog.customers", DENIED)
C(S, "SELECT * FROM public.customer_view", DENIED)
C(S, "WITH customers AS (SELECT * FROM public.customers) SELECT name, ssn FROM customers", "clean")
C(S, "WITH customers AS (SELECT 1 AS x) SELECT * FROM customers", "truth")
C(S, "WITH internal_audit AS (SELECT 'mine'::text AS payload) SELECT payload FROM internal_audit",
  "clean")
C(S, "WITH x AS (SELECT * FROM customers) SELECT * FROM x, public.internal_audit", DENIED)
C(S, "SET search_path = evil, public", DENIED)
C(S, "SET search_path TO pg_temp, public", DENIED)
C(S, "SET LOCAL search_path = evil", DENIED)
C(S, "SELECT set_config('search_path', 'evil', false)", DENIED)
C(S, "SELECT pg_catalog.set_config('search_path', 'evil,public', true)", DENIED)
C(S, "CREATE TEMP TABLE customers (id int, tenant_id text, name text)", DENIED)
C(S, "CREATE TEMP VIEW customers AS SELECT 1", DENIED)
C(S, "ALTER ROLE tenantwall_service SET search_path = evil", DENIED)

# --- inheritance and partitions ----------------------------------------------------------------
I = "inheritance"
C(I, "SELECT name FROM ONLY customers", "clean")
C(I, "SELECT name FROM customers*", "clean")
C(I, "SELECT name, email, ssn FROM customers", "clean", f"{I}-parent-includes-children")
C(I, "SELECT * FROM customers_archive", DENIED)
C(I, "SELECT * FROM ONLY customers_archive", DENIED)
C(I, "SELECT * FROM events", DENIED)
C(I, "SELECT * FROM events_globex", DENIED)
C(I, "SELECT * FROM events_acme", DENIED)
C(I, "SELECT tableoid::regclass, name FROM customers", "42703: column \"tableoid\" does not exist")
C(I, "UPDATE customers_archive SET name = 'x'", DENIED)
C(I, "DELETE FROM customers WHERE name = 'Gloria Archived'", "clean", writes=True)
C(I, "INSERT INTO events VALUES ('acme', 'x')", DENIED)

# --- views and tables outside the policy ---------------------------------------------------------
V = "unlisted"
for rel in ("customer_view", "order_totals", "internal_audit", "pg_catalog.pg_authid",
            "pg_shadow", "pg_user_mappings", "pg_file_settings", "pg_hba_file_rules",
            "information_schema.role_table_grants", "customers_id_seq"):
    C(V, f"SELECT * FROM {rel}", DENIED, f"{V}-{rel}")
C(V, "REFRESH MATERIALIZED VIEW order_totals", DENIED)

# --- system columns -----------------------------------------------------------------------------
Y = "system-columns"
for col in ("ctid", "xmin", "xmax", "cmin", "cmax", "tableoid"):
    C(Y, f"SELECT {col}, name FROM customers", f"42703: column \"{col}\" does not exist", f"{Y}-{col}")
C(Y, "SELECT name FROM customers WHERE ctid = '(0,4)'", "42703")
C(Y, "SELECT name FROM customers WHERE ctid > '(0,0)'", "42703")
C(Y, "SELECT * FROM orders WHERE ctid IN (SELECT ctid FROM orders)", "42703")
C(Y, "SELECT o.xmin FROM orders o JOIN customers c ON c.id = o.customer_id",
  "42501: column o.xmin is not visible")
C(Y, "SELECT * FROM currtid2('customers', '(0,4)')", DENIED)

# --- row locks -----------------------------------------------------------------------------------
L = "row-locks"
LOCKS = "42501: SELECT ... FOR UPDATE/SHARE is not allowed"
for lock in ("FOR UPDATE", "FOR SHARE", "FOR NO KEY UPDATE", "FOR KEY SHARE", "FOR UPDATE NOWAIT",
             "FOR UPDATE SKIP LOCKED", "FOR SHARE OF c"):
    C(L, f"SELECT c.name FROM customers c {lock}", LOCKS, f"{L}-{lock}")
C(L, "SELECT pg_advisory_lock(1)", DENIED)
C(L, "LOCK TABLE customers IN ACCESS EXCLUSIVE MODE", DENIED)

# --- writes that move or copy rows across tenants ------------------------------------------------
W = "writes"
C(W, "UPDATE customers SET tenant_id = 'globex' WHERE id = 1", DENIED)
C(W, "UPDATE customers SET tenant_id = (SELECT 'globex')", DENIED)
C(W, "UPDATE customers SET tenant_id = lower('GLOBEX')", DENIED)
C(W, "UPDATE orders SET tenant_id = DEFAULT", DENIED)
C(W, "UPDATE customers SET (tenant_id, name) = ('globex', 'x') WHERE id = 1", DENIED)
C(W, "UPDATE customers SET (tenant_id, name) = (SELECT 'globex', 'x') WHERE id = 1", DENIED)
C(W, "INSERT INTO customers (tenant_id, name) VALUES ('globex', 'Mallory')", DENIED)
C(W, "INSERT INTO customers (tenant_id, name) SELECT 'globex', name FROM customers", DENIED)
C(W, "INSERT INTO customers (tenant_id, name) VALUES (lower('GLOBEX'), 'Mallory')", DENIED)
C(W, "INSERT INTO customers VALUES (DEFAULT, 'globex', 'Mallory')", DENIED)
C(W, "INSERT INTO orders (tenant_id, customer_id, amount, status) VALUES ('acme', 4, 1, 'x')",
  "23503")
C(W, "UPDATE orders SET customer_id = 4 WHERE id = 1", "23503")
C(W, "WITH x AS (UPDATE customers SET tenant_id = 'globex' RETURNING *) SELECT * FROM x", DENIED)
C(W, "WITH x AS (INSERT INTO customers (tenant_id, name) VALUES ('globex', 'M') RETURNING *) "
     "SELECT 1", DENIED)
C(W, "WITH x AS (DELETE FROM orders RETURNING *) SELECT * FROM x", "truth", writes=True)
C(W, "WITH x AS (SELECT * FROM customers) UPDATE orders SET status = 'x' FROM x "
     "WHERE x.id = orders.customer_id RETURNING orders.*", "clean", writes=True)
C(W, "DELETE FROM customers WHERE id = 4 RETURNING *", "clean")
C(W, "DELETE FROM orders WHERE customer_id IN (4, 5) RETURNING *", "clean")
C(W, "UPDATE customers SET name = name WHERE id IN (4, 5) RETURNING *", "clean")
C(W, "UPDATE orders SET amount = amount RETURNING (SELECT payload FROM internal_audit)", DENIED)
C(W, "UPDATE orders SET amount = amount RETURNING (SELECT max(amount) FROM orders)", "clean",
  writes=True)
C(W, "UPDATE customers SET name = (SELECT max(name) FROM customers) WHERE id = 1 RETURNING name",
  "clean", writes=True)
C(W, "INSERT INTO customers (tenant_id, name) VALUES ('acme', 'M') RETURNING id, ssn, notes",
  "42501: column customers.notes is not visible")
C(W, "UPDATE customers SET notes = 'x' WHERE id = 1", DENIED)
C(W, "UPDATE customers SET email = email WHERE id = 1 RETURNING email", "clean", writes=True)
C(W, "UPDATE tenants SET name = 'x' WHERE id = 'globex'", DENIED)
C(W, "DELETE FROM tenants", "23503")
C(W, "TRUNCATE orders", DENIED)
C(W, "MERGE INTO orders o USING customers c ON o.customer_id = c.id "
     "WHEN MATCHED THEN UPDATE SET amount = 0", "0A000")

# --- ON CONFLICT and foreign keys as existence oracles --------------------------------------------
O = "oracles"
# Customer 4 and order 5 are globex's. The key of another tenant's row must not be observable:
# PostgreSQL answers INSERT 0 0 (ON CONFLICT) or 23505 where a free key gives INSERT 0 1.
# A key unique across all tenants (a primary key without the tenant column) may not be given a
# value by a tenant at all (policy/sql/unique_key_guard.h): 42501 for every key, taken or free.
C(O, "INSERT INTO customers (id, tenant_id, name) VALUES (4, 'acme', 'x') "
     "ON CONFLICT (id) DO UPDATE SET name = 'pwned'", DENIED)
C(O, "INSERT INTO customers (id, tenant_id, name) VALUES (4, 'acme', 'x') ON CONFLICT DO NOTHING",
  DENIED)
C(O, "INSERT INTO tenants VALUES ('globex', 'x') ON CONFLICT (id) DO UPDATE SET name = 'y'", DENIED)
C(O, "INSERT INTO tenants VALUES ('globex', 'x') ON CONFLICT DO NOTHING", DENIED)
C(O, "INSERT INTO orders (id, tenant_id, customer_id, amount, status) VALUES (5, 'acme', 1, 1, 'x') "
     "ON CONFLICT (id) DO UPDATE SET status = excluded.status RETURNING *", DENIED)
C(O, "INSERT INTO customers (id, tenant_id, name) VALUES (4, 'acme', 'x')", DENIED)
C(O, "UPDATE customers SET id = 4 WHERE id = 3", DENIED)
C(O, "INSERT INTO customers (name) VALUES ('x') ON CONFLICT (id) DO NOTHING", DENIED)
C(O, "COPY customers (id, name) FROM STDIN", DENIED, copy_data="4\tx\n")

# --- sequences ---------------------------------------------------------------------------------
Q = "sequences"
for sql in ("SELECT nextval('customers_id_seq')", "SELECT currval('orders_id_seq')",
            "SELECT setval('orders_id_seq', 1)", "SELECT lastval()",
            "SELECT last_value FROM customers_id_seq", "SELECT pg_sequence_last_value('orders_id_seq')",
            "ALTER SEQUENCE orders_id_seq RESTART", "SELECT * FROM pg_sequences"):
    C(Q, sql, DENIED)

# --- COPY ------------------------------------------------------------------------------------------
K = "copy"
C(K, "COPY customers TO STDOUT", "clean")
C(K, "COPY (SELECT * FROM customers) TO STDOUT", "clean")
C(K, "COPY customers (name, ssn) TO STDOUT WITH (FORMAT csv)", "clean")
C(K, "COPY (SELECT * FROM customers WHERE tenant_id = 'globex') TO STDOUT", DENIED)
C(K, "COPY internal_audit TO STDOUT", DENIED)
C(K, "COPY customers_archive TO STDOUT", DENIED)
C(K, "COPY (SELECT * FROM internal_audit) TO STDOUT", DENIED)
C(K, "COPY customers TO '/tmp/tenantwall-leak'", DENIED)
C(K, "COPY customers FROM '/etc/passwd'", DENIED)
C(K, "COPY customers TO PROGRAM 'id'", DENIED)
C(K, "COPY customers FROM PROGRAM 'id'", DENIED)
C(K, "COPY customers (tenant_id, name) FROM STDIN", DENIED, copy_data="globex\tMallory\n")
C(K, "COPY orders FROM STDIN", "42501: column orders.id is unique across all tenants",
  copy_data="99\tglobex\t4\t1\tpaid\t2026-01-01\n")
C(K, "COPY orders (customer_id, amount, status) FROM STDIN", "0A000: COPY into orders is not supported",
  copy_data="4\t1\tpaid\n")
C(K, "COPY countries FROM STDIN", DENIED, copy_data="FR\tFrance\n")
C(K, "COPY customers (name, notes) FROM STDIN", DENIED, copy_data="M\tx\n")

# --- EXPLAIN -------------------------------------------------------------------------------------
X = "explain"
# customers has an inheritance child the policy does not list (customers_archive, hostile world):
# any plan on customers would name it.
C(X, "EXPLAIN SELECT * FROM customers", "42501: EXPLAIN of a statement on customers is not allowed")
C(X, "EXPLAIN (VERBOSE, COSTS OFF) SELECT * FROM customers",
  "42501: EXPLAIN of a statement on customers is not allowed")
C(X, "EXPLAIN (VERBOSE, COSTS OFF) SELECT * FROM orders", "clean")
C(X, "EXPLAIN SELECT o.id FROM orders o JOIN customers c ON c.id = o.customer_id",
  "42501: EXPLAIN of a statement on customers is not allowed")
C(X, "EXPLAIN ANALYZE SELECT * FROM customers",
  "42501: EXPLAIN of a statement on customers is not allowed")
# EXPLAIN ANALYZE shows only the allowlisted parts of the plan (policy/explain_render.h).
C(X, "EXPLAIN ANALYZE SELECT * FROM orders WHERE amount > 0", "clean")
C(X, "EXPLAIN (ANALYZE, FORMAT JSON) SELECT status, count(*) FROM orders GROUP BY status", "clean")
C(X, "EXPLAIN SELECT * FROM internal_audit", DENIED)
C(X, "EXPLAIN ANALYZE SELECT * FROM customers WHERE tenant_id = 'globex'", DENIED)
C(X, "EXPLAIN ANALYZE DELETE FROM orders WHERE id = 4", DENIED)
C(X, "EXPLAIN (ANALYZE, FORMAT JSON) SELECT name FROM customers WHERE ssn = '456-78-9012'", DENIED)

# --- cursors, SQL prepared statements -----------------------------------------------------------
U = "cursors"
C(U, ["BEGIN", "DECLARE c CURSOR FOR SELECT * FROM internal_audit"], DENIED)
C(U, ["BEGIN", "DECLARE c CURSOR FOR SELECT * FROM customers", "FETCH ALL FROM c"], "clean")
C(U, ["BEGIN", "DECLARE c SCROLL CURSOR FOR SELECT name, ssn FROM customers", "FETCH LAST FROM c"], "clean")
C(U, ["BEGIN", "DECLARE c CURSOR FOR SELECT * FROM customers FOR UPDATE"], LOCKS)
C(U, ["DECLARE c CURSOR WITH HOLD FOR SELECT * FROM customers", "FETCH ALL FROM c"], "clean")
C(U, "FETCH ALL FROM nosuchcursor", "34000")
C(U, "SELECT * FROM pg_cursors", DENIED)
C(U, ["PREPARE p AS SELECT * FROM internal_audit"], DENIED)
C(U, ["PREPARE p AS SELECT name, ssn FROM customers", "EXECUTE p"], "clean")
C(U, ["PREPARE p(text) AS SELECT name FROM customers WHERE tenant_id = $1", "EXECUTE p('globex')"], "clean")
C(U, ["PREPARE p(int) AS SELECT name FROM customers WHERE id = $1", "EXECUTE p(4)"], "clean")
C(U, "EXECUTE nosuchplan", "26000")
C(U, "SELECT * FROM pg_prepared_statements", DENIED)
C(U, ["PREPARE p AS UPDATE customers SET tenant_id = $1", "EXECUTE p('globex')"], DENIED)

# --- functions that run SQL text, read files, large objects ---------------------------------------
F = "functions"
for sql in ("SELECT query_to_xml('select * from customers', true, true, '')",
            "SELECT table_to_xml('internal_audit', true, true, '')",
            "SELECT cursor_to_xml('c', 1, true, true, '')",
            "SELECT database_to_xml(true, true, '')",
            "SELECT schema_to_xml('public', true, true, '')",
            "SELECT dblink('dbname=app', 'select * from customers')",
            "SELECT pg_read_file('/etc/passwd')",
            "SELECT pg_read_binary_file('postgresql.conf')",
            "SELECT pg_ls_dir('.')",
            "SELECT pg_stat_file('postgresql.conf')",
            "SELECT lo_import('/etc/passwd')",
            "SELECT lo_export(1, '/tmp/x')",
            "SELECT lo_get(1)",
            "SELECT lo_create(0)",
            "SELECT lo_open(1, 262144)",
            "SELECT * FROM pg_largeobject",
            "SELECT pg_terminate_backend(pg_backend_pid())",
            "SELECT pg_cancel_backend(1)",
            "SELECT current_setting('data_directory')",
            "SELECT pg_relation_size('customers')",
            "SELECT xpath('/a', query_to_xml('select 1', true, true, ''))",
            "DO $$ BEGIN PERFORM 1; END $$",
            "CALL nosuchproc()",
            "SELECT txid_current_snapshot()",
            "SELECT * FROM pg_stat_get_activity(NULL)",
            "SELECT convert_from(pg_read_binary_file('/etc/passwd'), 'utf8')",
            "SELECT * FROM json_populate_record(NULL::internal_audit, '{}')"):
    C(F, sql, DENIED)
C(F, "SELECT pg_get_viewdef('customer_view')", "rows:[(None,)]")
C(F, "SELECT pg_get_viewdef('pg_class')", "rows:[(None,)]")
C(F, "SELECT to_regclass('internal_audit')", "rows:[(None,)]")
C(F, "SELECT 'internal_audit'::regclass", "42P01: relation \"internal_audit\" does not exist")
C(F, "SELECT 'customers_archive'::regclass::oid", "42P01")
C(F, "SELECT row_to_json(c) FROM customers c", "truth")
C(F, "SELECT to_jsonb(c) FROM customers c", "truth")
C(F, "SELECT c FROM customers c", "truth")
C(F, "SELECT (c).* FROM customers c", "truth")
C(F, "SELECT json_agg(o) FROM orders o", "clean")
C(F, "SELECT * FROM json_populate_record(NULL::customers, '{\"id\": 4}')", DENIED)

# --- LISTEN/NOTIFY -------------------------------------------------------------------------------
N = "notify"
for sql in ("LISTEN globex_events", "NOTIFY globex_events, 'x'", "SELECT pg_notify('c', 'x')",
            "UNLISTEN *", "SELECT pg_listening_channels()"):
    C(N, sql, DENIED)

# --- DDL and utility ------------------------------------------------------------------------------
D = "ddl"
for sql in ("CREATE TABLE t (x int)", "CREATE INDEX ON customers (ssn)",
            "ALTER TABLE customers DISABLE ROW LEVEL SECURITY", "ALTER TABLE customers OWNER TO alice",
            "CREATE RULE r AS ON SELECT TO customers DO INSTEAD SELECT 1",
            "CREATE POLICY p ON customers USING (true)",
            "CREATE FUNCTION f() RETURNS int LANGUAGE sql AS 'select 1'",
            "CREATE TRIGGER t BEFORE INSERT ON customers FOR EACH ROW EXECUTE FUNCTION f()",
            "COMMENT ON TABLE customers IS 'x'", "VACUUM customers", "ANALYZE customers",
            "CLUSTER customers", "REINDEX TABLE customers", "CREATE EXTENSION dblink",
            "LOAD 'plpgsql'", "CHECKPOINT", "CREATE DATABASE x", "DROP OWNED BY alice",
            "ALTER SYSTEM SET row_security = off", "GRANT SELECT ON internal_audit TO PUBLIC",
            "REVOKE ALL ON customers FROM tenantwall_service", "DROP TABLE internal_audit",
            "CREATE SCHEMA s", "SECURITY LABEL ON TABLE customers IS 'x'",
            "SELECT * INTO t FROM customers", "CREATE TABLE t AS SELECT * FROM customers",
            "IMPORT FOREIGN SCHEMA public FROM SERVER s INTO public", "DISCARD ALL"):
    C(D, sql, DENIED)

# --- session settings through every SQL door ------------------------------------------------------
T = "settings"
for sql in ("SET row_security = off", "SET LOCAL row_security = off",
            "SELECT set_config('row_security', 'off', false)", "RESET ALL", "RESET search_path",
            "SET ROLE postgres", "SET ROLE NONE", "RESET ROLE", "SET SESSION AUTHORIZATION postgres",
            "SET SESSION AUTHORIZATION DEFAULT", "SET session_replication_role = replica",
            "SET log_statement = 'none'", "SELECT current_setting('is_superuser')", "SHOW hba_file",
            "SET search_path = DEFAULT"):
    C(T, sql, DENIED)
C(T, ["BEGIN", "SET LOCAL search_path = evil"], DENIED)
# harmless settings a tenant may change: they run, and change no visibility
for sql in ("SET default_transaction_read_only = off", "SET statement_timeout = 0",
            "SET SESSION CHARACTERISTICS AS TRANSACTION READ WRITE", "SET TIME ZONE LOCAL"):
    C(T, [sql, "SELECT name, ssn FROM customers"], "clean")
C(T, "SELECT set_config('tenantwall.tenant', 'globex', false)", DENIED)

# --- masked columns through expressions, predicates, ordering, casts, errors, aggregates ------------
M = "masking"
for sql in ("SELECT name, length(email), length(ssn), length(phone) FROM customers",
            "SELECT name, substring(ssn, 1, 3), left(phone, 6), split_part(email, '@', 1) FROM customers",
            "SELECT name FROM customers WHERE ssn = '123-45-6789'",
            "SELECT name FROM customers WHERE ssn LIKE '123%'",
            "SELECT name FROM customers WHERE email = 'alice.anders@acme.example'",
            "SELECT name FROM customers WHERE email ~ '^alice'",
            "SELECT name FROM customers WHERE phone > '+1-555-0102'",
            "SELECT name FROM customers WHERE ssn BETWEEN '100' AND '200'",
            "SELECT name FROM customers WHERE md5(ssn) = md5('123-45-6789')",
            "SELECT name FROM customers c WHERE (SELECT c.ssn) = '123-45-6789'",
            "SELECT name, ssn = '123-45-6789' AS hit FROM customers",
            "SELECT name FROM customers WHERE position('45' in ssn) > 0",
            "SELECT name FROM customers ORDER BY ssn LIMIT 1",
            "SELECT email, count(*) FROM customers GROUP BY email",
            "SELECT DISTINCT email FROM customers",
            "SELECT DISTINCT substr(ssn, 1, 1) FROM customers",
            "SELECT count(DISTINCT ssn), count(DISTINCT email), count(DISTINCT phone) FROM customers",
            "SELECT min(ssn), max(ssn), min(email), max(phone) FROM customers",
            "SELECT string_agg(ssn, ',' ORDER BY ssn), string_agg(email, ',') FROM customers",
            "SELECT array_agg(phone ORDER BY phone) FROM customers",
            "SELECT name FROM customers WHERE CASE WHEN ssn LIKE '123%' THEN 1/(id - id) ELSE 1 END = 1",
            "SELECT name, CASE WHEN email LIKE 'alice.%' THEN 1/(id - id) END FROM customers",
            "SELECT name FROM customers WHERE ssn IN (SELECT ssn FROM customers)",
            "SELECT c.name FROM customers c JOIN customers d ON c.ssn = d.ssn",
            "SELECT name FROM customers WHERE ssn::text = '123-45-6789'::text",
            "SELECT name, rank() OVER (ORDER BY ssn) FROM customers",
            "SELECT name, lag(ssn) OVER (ORDER BY id) FROM customers",
            "SELECT name FROM customers WHERE ROW(ssn, name) = ROW('123-45-6789', 'Alice Anders')",
            "SELECT name FROM customers WHERE email IS NULL",
            "SELECT name FROM customers WHERE 'alice.anders@acme.example' IN (email)",
            "SELECT name FROM customers WHERE ssn = ANY (ARRAY['123-45-6789'])",
            "SELECT name FROM customers WHERE starts_with(ssn, '1')",
            "SELECT name FROM customers WHERE length(email) = 25",
            "SELECT encode(convert_to(ssn, 'utf8'), 'hex') FROM customers",
            "SELECT name FROM customers GROUP BY name, ssn HAVING ssn < '2'",
            "SELECT name FROM customers WHERE CASE WHEN ssn LIKE '***%' THEN 1 ELSE 1/(id - id) END = 1",
            "SELECT name FROM customers WHERE ssn = '***-**-6789'"):
    C(M, sql, "truth")
C(M, "SELECT email::int FROM customers", "22P02: invalid input syntax for type integer")
C(M, "SELECT ssn::date FROM customers", "22007")
C(M, "SELECT phone::numeric FROM customers", "22P02")
C(M, "SELECT 1/(length(ssn) - 11) FROM customers", "22012")
C(M, "SELECT name FROM customers WHERE notes IS NOT NULL", "42703")
C(M, "SELECT notes FROM customers", "42703")
C(M, "SELECT name FROM customers ORDER BY notes", "42703")
C(M, "SELECT name FROM customers c WHERE c.notes LIKE 'acme%'", "42501: column c.notes is not visible")
C(M, "SELECT name FROM customers WHERE CASE WHEN ssn LIKE '123%' THEN 1/0 ELSE 1 END = 1", "22012")

# --- catalogs and statistics views -----------------------------------------------------------------
G = "catalogs"
for rel in ("pg_stats", "pg_statistic", "pg_stat_user_tables", "pg_stat_all_tables",
            "pg_statio_user_tables", "pg_stat_activity", "pg_locks",
            "pg_stat_database", "pg_stat_user_indexes", "pg_stats_ext", "pg_stat_xact_user_tables"):
    C(G, f"SELECT * FROM {rel}", DENIED, f"{G}-{rel}")
# pg_settings shows tenants four compile-time limits only (pgJDBC's getImportedKeys reads
# max_index_keys): nothing about the server's configuration or other sessions.
C(G, "SELECT name, setting FROM pg_settings WHERE name IN ('shared_buffers', 'data_directory', "
     "'hba_file', 'max_index_keys')", "clean")
# pg_class and pg_roles are virtualised: policy relations only, no statistics
C(G, "SELECT reltuples, relpages FROM pg_class WHERE relname = 'customers'", "rows:[(-1.0, 0)]")
C(G, "SELECT count(*) FROM pg_class WHERE relname IN ('internal_audit', 'customers_archive', 'events_globex')",
  "rows:[(0,)]")
C(G, "SELECT sum(reltuples), sum(relpages) FROM pg_catalog.pg_class WHERE reltuples > 0 OR relpages > 0",
  "rows:[(None, None)]")
C(G, "SELECT * FROM pg_roles", "rows:[]")
C(G, "SELECT setting FROM pg_settings WHERE name IN ('data_directory', 'hba_file', 'row_security')",
  "rows:[]")
C(G, "SELECT n_live_tup FROM pg_stat_user_tables", DENIED)
C(G, "SELECT most_common_vals FROM pg_stats WHERE tablename = 'customers'", DENIED)
C(G, "SELECT pg_stat_get_live_tuples('customers'::regclass)", DENIED)
C(G, "SELECT x.name, c.relname, c.reltuples FROM pg_catalog.pg_class c JOIN customers x ON true", "clean")

# --- more shapes: sampling, whole-row values, grouping sets, aliases, tenant column tricks ---------
Z = "shapes"
for sql in ("SELECT c::text FROM customers c", "SELECT (c).ssn FROM customers c",
            "SELECT name, ssn FROM customers GROUP BY GROUPING SETS ((name), (ssn))",
            "SELECT name, count(*) FROM customers GROUP BY CUBE (name, email)",
            "SELECT name FROM customers c, LATERAL (SELECT c.ssn) x(s) WHERE x.s = '123-45-6789'",
            "SELECT orders.* FROM customers orders", "SELECT * FROM customers c WHERE c.* IS NOT NULL",
            "SELECT c.name, c.ssn FROM customers c RIGHT JOIN (VALUES (4), (5)) v(vid) ON v.vid = c.id",
            "SELECT * FROM orders WHERE (tenant_id, id) = ('globex', 4)",
            "SELECT * FROM orders WHERE tenant_id IN (SELECT id FROM tenants)",
            "SELECT * FROM orders WHERE tenant_id = (SELECT 'glo' || 'bex')",
            "SELECT count(*) FROM orders WHERE tenant_id = $$acme$$ OR true",
            "SELECT * FROM customers WHERE tenant_id = current_user",
            "SELECT * FROM customers NATURAL JOIN (SELECT 'globex'::text AS tenant_id) g",
            "SELECT name FROM customers WHERE ssn IS DISTINCT FROM '***-**-6789'",
            "SELECT format('%s', c.ssn) FROM customers c",
            "SELECT name FROM customers WHERE ssn COLLATE \"C\" > '2'"):
    C(Z, sql, "truth")
C(Z, "SELECT name FROM customers TABLESAMPLE SYSTEM (100)", "clean")
C(Z, "SELECT jsonb_agg(c) FROM customers c", "clean")
C(Z, "SELECT * FROM orders WHERE tenant_id = ANY('{globex}')", "42501: cross-tenant reference")
TENANT_WRITE = "42501: the tenant column {} can only be written as a constant or parameter"
C(Z, "INSERT INTO customers (tenant_id, name) VALUES (current_setting('application_name'), 'x')",
  TENANT_WRITE.format("customers.tenant_id"))
C(Z, ["SET application_name = 'globex'",
      "INSERT INTO customers (tenant_id, name) VALUES (current_setting('application_name'), 'x')"],
  TENANT_WRITE.format("customers.tenant_id"))
C(Z, "INSERT INTO orders (tenant_id, customer_id, amount, status) SELECT id, 1, 1, 'x' FROM tenants",
  TENANT_WRITE.format("orders.tenant_id"))
C(Z, "UPDATE customers SET tenant_id = tenant_id || '' WHERE id = 1",
  TENANT_WRITE.format("customers.tenant_id"))
C(Z, "UPDATE orders SET customer_id = (SELECT id FROM customers WHERE name = 'Gina Grant') WHERE id = 1",
  "23502")
C(Z, "INSERT INTO customers (name) VALUES ('Mallory') RETURNING tenant_id, name",
  "rows:[('acme', 'Mallory')]", writes=True)
C(Z, "UPDATE customers c SET name = o.status FROM orders o WHERE o.customer_id = 4 RETURNING c.*", "rows:[]")
C(Z, "DELETE FROM orders o USING customers c WHERE c.id = o.customer_id AND c.name = 'Gina Grant' "
     "RETURNING o.*", "rows:[]")
C(Z, "SELECT column_name FROM information_schema.columns WHERE table_name = 'internal_audit'", "rows:[]")
C(Z, "SELECT attname FROM pg_attribute WHERE attname = 'notes'", "rows:[]")
C(Z, "SELECT attname FROM pg_attribute a JOIN pg_class c ON c.oid = a.attrelid "
     "WHERE c.relname = 'customers' AND attnum > 0 ORDER BY attnum",
  "rows:[('id',), ('tenant_id',), ('name',), ('email',), ('phone',), ('ssn',)]")
C(Z, "SELECT has_table_privilege('internal_audit', 'select')", "42P01")
for fn in ("pg_column_size(ssn)", "hashtext(ssn)", "xmlagg(xmlelement(name x, ssn))",
           "current_setting('role')", "pg_backend_pid()", "inet_server_addr()"):
    C(Z, f"SELECT {fn} FROM customers", f"42501: function {fn.split('(')[0]} is not allowed")
C(Z, "SELECT name FROM customers WHERE tenant_id != 'globex'", "42501: cross-tenant reference")
C(Z, "SELECT name FROM customers WHERE tenant_id = 'acme' OR tenant_id = 'globex'",
  "42501: cross-tenant reference")
C(Z, "VALUES ((SELECT name FROM customers WHERE tenant_id = 'globex'))", "42501: cross-tenant reference")
for sql in ("SELECT name FROM customers WHERE tenant_id IS DISTINCT FROM 'acme'",
            "SELECT name FROM customers WHERE tenant_id ILIKE 'GLOBEX'",
            "SELECT name FROM customers WHERE tenant_id ~ 'glo'",
            "SELECT * FROM customers WHERE ssn = (SELECT ssn FROM customers WHERE id = 4)",
            "SELECT name FROM customers WHERE id = 4 OR id IN (SELECT customer_id FROM orders "
            "WHERE amount = 999.99)",
            "WITH RECURSIVE t AS (SELECT * FROM customers WHERE id = 1 UNION "
            "SELECT c.* FROM customers c JOIN t ON c.id = t.id + 3) SELECT * FROM t",
            "SELECT string_agg(tenant_id, ',') FROM (SELECT tenant_id FROM customers "
            "UNION ALL SELECT tenant_id FROM orders) x"):
    C(Z, sql, "truth")
C(T, "PREPARE TRANSACTION 'x'", "42501: PREPARE TRANSACTION is not allowed")
C(T, "RESET row_security", "42501: RESET row_security is not allowed")
C(T, "SET SESSION row_security TO DEFAULT", "42501: SET row_security is not allowed")
C(T, ["SET bytea_output = 'escape'", "SET DateStyle = 'German'", "SET extra_float_digits = 3",
      "SELECT id, amount, status, created_at::text FROM orders"], "clean")

# --- masked columns read inside writes: SET expressions, RETURNING, ON CONFLICT, WHERE ------------
WM = "write-masking"
for sql, expect in (
        ("UPDATE customers SET name = ssn WHERE id = 1 RETURNING name", "rows:[('***-**-6789',)]"),
        ("UPDATE customers SET name = email || '|' || phone WHERE id = 2 RETURNING name",
         "rows:[('a***@acme.example|***-***-0102',)]"),
        ("UPDATE customers SET name = name WHERE id = 1 RETURNING ssn, email, phone",
         "rows:[('***-**-6789', 'a***@acme.example', '***-***-0101')]"),
        ("DELETE FROM customers WHERE id = 3 RETURNING *",
         "rows:[(3, 'acme', 'Amy Adams', None, '***-***-0103', '***-**-8901')]"),
        # customers.id is unique across all tenants: a tenant may not choose it, nor use it as
        # the arbiter (policy/sql/unique_key_guard.h), so these never reach the masks.
        ("INSERT INTO customers (id, tenant_id, name) VALUES (1, 'acme', 'x') "
         "ON CONFLICT (id) DO UPDATE SET name = customers.ssn RETURNING name", "42501: column customers.id is unique across all tenants"),
        ("INSERT INTO customers (id, tenant_id, name) VALUES (2, 'acme', 'x') "
         "ON CONFLICT (id) DO UPDATE SET name = excluded.name || customers.email RETURNING name",
         "42501: column customers.id is unique across all tenants"),
        ("UPDATE customers SET name = (SELECT c2.ssn FROM customers c2 WHERE c2.id = customers.id) "
         "WHERE id = 2 RETURNING name", "rows:[('***-**-7890',)]"),
        ("UPDATE orders o SET status = c.ssn FROM customers c WHERE c.id = o.customer_id AND o.id = 3 "
         "RETURNING status", "rows:[('***-**-7890',)]"),
        ("UPDATE customers SET name = CASE WHEN ssn LIKE '123%' THEN 'HIT' ELSE 'MISS' END WHERE id = 1 "
         "RETURNING name", "rows:[('MISS',)]"),
        ("UPDATE customers SET name = name WHERE ssn = '123-45-6789' RETURNING id", "rows:[]"),
        ("DELETE FROM customers WHERE email LIKE 'alice.%' RETURNING id", "rows:[]"),
        ("UPDATE customers SET name = 'x' WHERE id = 1 AND 1/(length(email) - 25) = 1 RETURNING id", "rows:[]"),
        (["UPDATE customers SET name = ssn WHERE id = 1", "SELECT name FROM customers WHERE id = 1"],
         "rows:[('***-**-6789',)]")):
    C(WM, sql, expect, writes=True)
C(WM, "UPDATE customers SET name = NULL WHERE id = 1", "23502: null value in column \"name\"")
C(WM, "UPDATE customers SET id = ssn::int WHERE id = 1", "42501: column customers.id is unique across all tenants")
C(WM, "UPDATE orders o SET amount = c.ssn::numeric FROM customers c WHERE c.id = o.customer_id AND o.id = 1",
  "22P02: invalid input syntax for type numeric")
C(WM, "UPDATE customers SET phone = notes WHERE id = 1", "42501: column customers.notes is not visible")
C(WM, "UPDATE customers SET name = 'x' WHERE notes IS NOT NULL RETURNING id",
  "42501: column customers.notes is not visible")
C(WM, "UPDATE customers SET name = 'x' WHERE id = 1 RETURNING notes",
  "42501: column customers.notes is not visible")
