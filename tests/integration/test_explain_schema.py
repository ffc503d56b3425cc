"""Validate before run and the schema slice (issue 10): `tenantwall explain-decision` and POST
/explain give the decision, the rewritten SQL (which PostgreSQL runs to the very rows the proxy
returns) or the SQLSTATE, and the deciding rule; `tenantwall schema` and GET /schema give each
principal exactly the tables and columns the policy (and its roles) let it see, the same ones the
catalogs show it through the proxy."""
import json
import time

import psycopg2
import pytest
import yaml

import admin_helpers
import harness

# conf/policy.yaml with carol as a viewer (ssn hidden, refunded orders hidden) and bob as an
# owner (email unmasked): three principals, three different slices.
ROLES = {"alice": "analyst", "carol": "viewer", "bob": "owner"}


@pytest.fixture(scope="module")
def policy_file(tmp_path_factory):
    policy = yaml.safe_load(harness.DEFAULT_POLICY.read_text())
    for user in policy["users"]:
        user["role"] = ROLES[user["name"]]
    path = tmp_path_factory.mktemp("explain") / "policy.yaml"
    path.write_text(yaml.safe_dump(policy, sort_keys=False))
    return path


@pytest.fixture(scope="module")
def px(pg, policy_file):
    proxy = admin_helpers.start(pg, policy=policy_file)
    yield proxy
    proxy.stop()


def explain(policy_file, user, sql, fmt="json"):
    p = admin_helpers.cli("explain-decision", "--policy", policy_file, "--principal", user,
                          "--format", fmt, sql)
    return p.returncode, (json.loads(p.stdout) if fmt == "json" else p.stdout), p.stderr


def test_explain_allowed_gives_sql_postgres_runs_to_the_same_rows(px, pg, policy_file):
    sql = "SELECT name, email FROM customers ORDER BY id"
    rc, out, err = explain(policy_file, "alice", sql)
    assert rc == 0, err
    assert out["decision"] == "allow"
    assert out["principal"] == {"user": "alice", "tenant": "acme", "role": "analyst"}
    assert out["statement_kinds"] == ["SELECT"]
    assert out["relations"] == ["public.customers"]
    assert out["sqlstate"] is None
    assert "public.customers.tenant_id OPERATOR(pg_catalog.=) 'acme'" in out["rewritten_sql"]
    assert any(r.startswith("protected_tables[public.customers]: only rows where tenant_id = "
                            "'acme'") and "masked email (email)" in r for r in out["rules"])
    with px.connect("alice") as conn, conn.cursor() as cur:
        cur.execute(sql)
        through_proxy = cur.fetchall()
    assert pg.query(out["rewritten_sql"]) == through_proxy
    assert through_proxy == pg.truth("acme", sql)[1]


def test_explain_refused_gives_the_sqlstate_and_rule_the_proxy_gives(px, policy_file):
    sql = "SELECT * FROM customers WHERE tenant_id = 'globex'"
    rc, out, _ = explain(policy_file, "alice", sql)
    assert rc == 1
    assert out["decision"] == "deny"
    assert out["rewritten_sql"] is None
    assert out["sqlstate"] == "42501"
    conn = px.connect("alice")
    try:
        with pytest.raises(psycopg2.Error) as info:
            conn.cursor().execute(sql)
    finally:
        conn.close()
    assert info.value.pgcode == out["sqlstate"]
    assert info.value.diag.message_primary == out["message"]
    assert out["rules"] == [f"refused: {out['message']}" +
                            (f" ({out['hint']})" if out["hint"] else "")]
    rc, text, _ = explain(policy_file, "alice", sql, fmt="text")
    assert rc == 1
    assert "decision:  DENY\n" in text and "sqlstate:  42501\n" in text
    # The role decides too: a viewer cannot write.
    rc, out, _ = explain(policy_file, "carol", "DELETE FROM orders WHERE id = 1")
    assert (rc, out["sqlstate"]) == (1, "42501")
    rc, out, _ = explain(policy_file, "alice", "DELETE FROM orders WHERE id = 1")
    assert (rc, out["decision"]) == (0, "allow")


def test_explain_usage_errors(policy_file):
    p = admin_helpers.cli("explain-decision", "--policy", policy_file, "--principal", "mallory",
                          "SELECT 1")
    assert p.returncode == 2
    assert "not a static user" in p.stderr
    p = admin_helpers.cli("explain-decision", "--principal", "alice", "SELECT 1")
    assert p.returncode == 2


def test_explain_admin_endpoint(px, policy_file):
    body = {"principal": "alice", "sql": "SELECT name FROM customers ORDER BY id"}
    status, _ = px.request("POST", "/explain", body, token=None)
    assert status == 401
    status, _ = px.request("POST", "/explain", body, token="wrong")
    assert status == 401
    status, text = px.request("POST", "/explain", body)
    assert status == 200, text
    got = json.loads(text)
    rc, cli_out, _ = explain(policy_file, "alice", body["sql"])
    assert rc == 0
    for key in ("decision", "principal", "rewritten_sql", "statement_kinds", "relations", "rules"):
        assert got[key] == cli_out[key], key
    status, text = px.request("POST", "/explain",
                              {"principal": "bob", "sql": "SELECT * FROM internal_audit"})
    assert status == 200
    got = json.loads(text)
    assert (got["decision"], got["sqlstate"]) == ("deny", "42501")
    assert px.request("POST", "/explain", {"sql": "SELECT 1"})[0] == 400
    assert px.request("POST", "/explain", {"principal": "mallory", "sql": "SELECT 1"})[0] == 422
    expected = {"POST /explain for alice: allow", "POST /explain for bob: deny 42501",
                "POST /explain refused: missing or wrong bearer token"}
    # The audit writer is asynchronous (it never holds the hot path): wait for the last event.
    deadline = time.monotonic() + 10
    while True:
        reasons = {e["reason"] for e in px.audit_events() if e["kind"] == "admin"}
        if expected <= reasons or time.monotonic() > deadline:
            break
        time.sleep(0.05)
    assert expected <= reasons, sorted(reasons)


def schema(px, user, fmt="json"):
    p = admin_helpers.cli("schema", "--config", px.config_path, "--principal", user,
                          "--format", fmt)
    assert p.returncode == 0, p.stderr
    return json.loads(p.stdout) if fmt == "json" else p.stdout


def columns(slice_, table):
    [t] = [t for t in slice_["tables"] if f"{t['schema']}.{t['name']}" == table]
    return {c["name"]: c for c in t["columns"]}, t


def test_schema_slices_differ_exactly_as_the_policy_says(px):
    alice, carol, bob = schema(px, "alice"), schema(px, "carol"), schema(px, "bob")
    assert alice["live"] is True
    tables = ["public.countries", "public.customers", "public.orders", "public.tenants"]
    for s in (alice, carol, bob):
        assert [f"{t['schema']}.{t['name']}" for t in s["tables"]] == tables
    a, a_table = columns(alice, "public.customers")
    c, _ = columns(carol, "public.customers")
    b, _ = columns(bob, "public.customers")
    # notes is hidden from everyone; ssn is hidden from viewers; email is plain for owners.
    assert list(a) == ["id", "tenant_id", "name", "email", "phone", "ssn"]
    assert list(c) == ["id", "tenant_id", "name", "email", "phone"]
    assert list(b) == ["id", "tenant_id", "name", "email", "phone", "ssn"]
    assert {n: col["masked"] for n, col in a.items()} == {
        "id": None, "tenant_id": None, "name": None, "email": "email", "phone": "phone",
        "ssn": "ssn"}
    assert b["email"]["masked"] is None and b["ssn"]["masked"] == "ssn"
    assert c["email"]["masked"] == "email"
    assert a["id"]["type"] == "integer" and a["id"]["not_null"] is True
    assert a["email"]["type"] == "text" and a["email"]["not_null"] is False
    assert a["tenant_id"]["tenant_column"] is True
    assert a_table["kind"] == "protected" and a_table["rows"] == "only tenant acme"
    assert a_table["foreign_keys"] == [{"name": "customers_tenant_id_fkey", "columns": ["tenant_id"],
                                        "references": {"schema": "public", "table": "tenants",
                                                       "columns": ["id"]}}]
    orders, _ = columns(alice, "public.orders")
    assert orders["amount"]["type"] == "numeric(10,2)"
    _, o_table = columns(alice, "public.orders")
    assert sorted(k["name"] for k in o_table["foreign_keys"]) == [
        "orders_customer_id_fkey", "orders_tenant_id_fkey"]
    countries, c_table = columns(alice, "public.countries")
    assert list(countries) == ["code", "name"] and c_table["kind"] == "reference"
    # Nothing the policy does not name, whatever the database holds.
    assert not any(t["name"] == "internal_audit" for s in (alice, carol, bob) for t in s["tables"])
    assert bob["principal"] == {"user": "bob", "tenant": "globex", "role": "owner"}


def test_schema_slice_is_what_the_catalogs_show(px):
    for user in ("alice", "carol", "bob"):
        slice_ = schema(px, user)
        want = sorted((t["name"], c["name"]) for t in slice_["tables"] for c in t["columns"])
        with px.connect(user) as conn, conn.cursor() as cur:
            cur.execute("SELECT table_name, column_name FROM information_schema.columns "
                        "WHERE table_schema = 'public' ORDER BY 1, 2")
            assert [tuple(r) for r in cur.fetchall()] == want, user


def test_schema_text_for_prompts(px):
    alice, carol = schema(px, "alice", "text"), schema(px, "carol", "text")
    assert "TABLE public.customers -- tenant-scoped (tenant_id)\n" in alice
    assert "  email text -- masked (email)\n" in alice
    assert "  ssn text -- masked (ssn)\n" in alice
    assert "ssn" not in carol
    assert "notes" not in alice and "internal_audit" not in alice
    assert "  FOREIGN KEY (tenant_id) REFERENCES public.tenants (id)\n" in alice


def test_schema_admin_endpoint(px):
    status, text = px.request("GET", "/schema?user=carol")
    assert status == 200, text
    assert json.loads(text)["tables"] == schema(px, "carol")["tables"]
    status, text = px.request("GET", "/schema?user=alice&format=text")
    assert status == 200
    # The same text but for the first line's policy version (the proxy's snapshot counts
    # its re-annotations; the command line loads version 1).
    assert text.split("\n", 1)[1] == schema(px, "alice", "text").split("\n", 1)[1]
    assert px.request("GET", "/schema?user=carol", token=None)[0] == 401
    assert px.request("GET", "/schema")[0] == 400
    assert px.request("GET", "/schema?user=mallory")[0] == 422
