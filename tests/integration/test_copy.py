"""COPY through the proxy: TO STDOUT is tenant-scoped and masked; FROM STDIN checks or fills the
tenant column of every row, and one foreign row refuses the whole COPY."""
import os
import subprocess

import pytest

import harness


@pytest.fixture
def restore(pg):
    yield
    pg.reset_data()


def psql_copy(proxy, sql, data="", user="alice"):
    env = dict(os.environ, PGPASSWORD=harness.USERS[user][0], PGCONNECT_TIMEOUT="10")
    p = subprocess.run([harness.PSQL, proxy.conninfo(user), "-X", "-v", "ON_ERROR_STOP=1", "-c", sql],
                       input=data, capture_output=True, text=True, timeout=30, env=env)
    return p.returncode, p.stdout, p.stderr


def test_copy_to_stdout_is_scoped_and_masked(proxy, pg):
    rc, out, err = psql_copy(proxy, "COPY customers TO STDOUT")
    assert rc == 0, err
    rows = [line.split("\t") for line in out.splitlines()]
    assert [r[2] for r in rows] == ["Alice Anders", "Arthur Abbott", "Amy Adams"], out
    assert all(r[1] == "acme" for r in rows), out
    raw = {v for (v,) in pg.query("SELECT ssn FROM customers UNION SELECT email FROM customers "
                                  "WHERE email IS NOT NULL UNION SELECT phone FROM customers")}
    for r in rows:
        assert not raw & set(r), f"as alice: COPY customers TO STDOUT leaked {raw & set(r)}"
    assert rows[0][5] == "***-**-6789" and rows[2][3] == "\\N", out
    assert "notes" not in out and "acme vip" not in out


def test_copy_query_to_stdout_csv(proxy):
    rc, out, err = psql_copy(proxy, "COPY (SELECT c.name, o.amount FROM customers c JOIN orders o "
                                    "ON o.customer_id = c.id ORDER BY o.id) TO STDOUT (FORMAT csv, HEADER)",
                             user="bob")
    assert rc == 0, err
    assert out.splitlines() == ["name,amount", "Gina Grant,999.99", "Gus Gold,500.00",
                                "Gus Gold,120.00"], out


def test_copy_from_stdin_fills_omitted_tenant(proxy, pg, restore):
    rc, out, err = psql_copy(proxy, "COPY customers (name, email) FROM STDIN",
                             "Zed Zeta\tzed@acme.example\nYan Yu\t\\N\n")
    assert rc == 0, err
    assert "COPY 2" in out
    rows = pg.query("SELECT tenant_id, name, email FROM customers WHERE name IN ('Zed Zeta', 'Yan Yu') "
                    "ORDER BY name")
    assert rows == [("acme", "Yan Yu", None), ("acme", "Zed Zeta", "zed@acme.example")]


def test_copy_from_stdin_own_tenant_given_csv(proxy, pg, restore):
    rc, out, err = psql_copy(proxy, "COPY customers (tenant_id, name) FROM STDIN (FORMAT csv, HEADER)",
                             "tenant_id,name\nacme,\"Quoted, Name\"\n", user="carol")
    assert rc == 0, err
    assert pg.query("SELECT tenant_id FROM customers WHERE name = 'Quoted, Name'") == [("acme",)]


@pytest.mark.parametrize("data", [
    "Zed\tacme\nEvil\tglobex\n",          # a foreign row after a good one
    "Evil\tglobex\n",
    "Evil\t\\N\n",                         # NULL tenant
    "Evil\t\\x61cme\n",                    # an escaped spelling
    "Evil\tacme\textra\n",                 # wrong column count
])
def test_copy_from_stdin_refuses_the_whole_copy(proxy, pg, data):
    before = pg.snapshot()
    rc, out, err = psql_copy(proxy, "COPY customers (name, tenant_id) FROM STDIN", data)
    assert rc != 0, f"as alice: COPY FROM STDIN of {data!r} was accepted: {out}"
    assert "COPY row" in err and "nothing was copied" in err, err
    assert pg.snapshot() == before, f"as alice: a refused COPY of {data!r} changed the database"
    # The session is still usable afterwards, on the same connection.
    rc, out, err = psql_copy(proxy, "COPY (SELECT 1) TO STDOUT")
    assert rc == 0 and out.strip() == "1", err


def test_copy_refusal_inside_transaction_aborts_it(proxy, pg):
    before = pg.snapshot()
    script = ("BEGIN;\nINSERT INTO orders (customer_id, amount, status) VALUES (1, 5, 'x');\n"
              "COPY customers (name, tenant_id) FROM STDIN;\nEvil\tglobex\n\\.\nCOMMIT;\n")
    env = dict(os.environ, PGPASSWORD="alice-secret")
    p = subprocess.run([harness.PSQL, proxy.conninfo("alice"), "-X"], input=script,
                       capture_output=True, text=True, timeout=30, env=env)
    assert "outside your tenant" in p.stderr, p.stderr
    assert "ROLLBACK" in p.stdout, p.stdout  # COMMIT of an aborted transaction rolls back
    assert pg.snapshot() == before


@pytest.mark.parametrize("sql", [
    "COPY customers FROM '/etc/passwd'",
    "COPY customers TO '/tmp/out'",
    "COPY customers TO PROGRAM 'id'",
    "COPY countries FROM STDIN",
    "COPY internal_audit TO STDOUT",
    "COPY customers (notes) TO STDOUT",
    "COPY customers FROM STDIN (FORMAT binary)",
])
def test_copy_refusals(proxy, sql):
    rc, out, err = psql_copy(proxy, sql, "")
    assert rc != 0, f"as alice: {sql} was accepted: {out}"
    assert "ERROR" in err, err
