"""psql, the reference client, through the proxy: output, error lines and multi-statement input."""
import pytest

from checks import assert_text_clean, mask_email


@pytest.mark.parametrize("user", ["alice", "bob"])
def test_names_and_masked_emails(proxy, world, user):
    sql = "SELECT name, email FROM customers ORDER BY id"
    r = proxy.psql(sql, user=user)
    assert r.rc == 0, f"as {user}: {sql}\n{r}"
    tenant = {"alice": "acme", "bob": "globex"}[user]
    want = "".join(f"{c['name']}|{mask_email(c['email']) or ''}\n" for c in world.customers_of(tenant))
    assert r.stdout == want, f"as {user}: {sql}\n  got:\n{r.stdout}\n  want:\n{want}"
    assert_text_clean(world, user, f"psql -c {sql!r}", r.stdout)


def test_select_star_aligned_output(proxy, world):
    """Default psql output (aligned, with header): what a person sees."""
    r = proxy.psql(None, user="carol", args=("-P", "format=aligned", "-P", "tuples_only=off",
                                              "-c", "SELECT * FROM customers ORDER BY id"))
    assert r.rc == 0, str(r)
    header = r.stdout.splitlines()[0]
    assert [h.strip() for h in header.split("|")] == ["id", "tenant_id", "name", "email", "phone", "ssn"], r.stdout
    assert "(3 rows)" in r.stdout, r.stdout
    assert_text_clean(world, "carol", "psql SELECT * FROM customers", r.stdout)


def test_refused_statement_prints_error(proxy, world):
    sql = "SELECT * FROM customers WHERE tenant_id = 'globex'"
    r = proxy.psql(sql, user="alice", args=("-v", "VERBOSITY=verbose"))
    assert r.rc == 1, f"as alice: {sql}: want psql exit 1\n{r}"
    assert r.stdout == "", f"as alice: {sql}: printed rows\n{r}"
    assert "ERROR:  42501: cross-tenant reference" in r.stderr, f"as alice: {sql}\n{r}"
    assert_text_clean(world, "alice", f"psql -c {sql!r}", r.stdout + r.stderr, typed=sql)


def test_refused_relation_prints_error(proxy):
    r = proxy.psql("SELECT * FROM internal_audit", user="bob")
    assert r.rc == 1 and r.stdout == "", str(r)
    assert 'ERROR:  relation "internal_audit" is not allowed' in r.stderr, str(r)
    assert "do not leak" not in r.stdout + r.stderr, str(r)


def test_multi_statement_c_string_refused_whole(proxy, pg):
    """One -c string is one simple Query message: one refused statement refuses all of it, and
    none of it runs (the first statement's result is not printed)."""
    sql = "SELECT count(*) FROM customers; SELECT * FROM internal_audit; SELECT 'after'"
    r = proxy.psql(sql, user="alice")
    assert r.rc == 1, f"as alice: {sql}\n{r}"
    assert r.stdout == "", f"as alice: part of a refused multi-statement string ran:\n{r}"
    assert "ERROR:" in r.stderr and "internal_audit" in r.stderr, str(r)


def test_multi_statement_c_string_allowed(proxy, pg):
    (total,) = pg.query("SELECT sum(amount) FROM public.orders WHERE tenant_id = 'acme'")[0]
    r = proxy.psql("SELECT count(*) FROM customers; SELECT sum(amount) FROM orders", user="alice")
    assert r.rc == 0, str(r)
    lines = r.stdout.split()
    assert lines[-1] == str(total), f"want the acme total {total} last:\n{r}"
    assert set(lines) <= {"3", str(total)}, str(r)


def test_script_file_stops_at_refused_statement(proxy, tmp_path):
    """psql -f sends each statement on its own: the ones before the refusal run, the refused one
    prints an ERROR with its line, and ON_ERROR_STOP ends the script there (exit 3)."""
    script = tmp_path / "report.sql"
    script.write_text("SELECT count(*) FROM customers;\n"
                      "SELECT * FROM internal_audit;\n"
                      "SELECT 'not reached';\n")
    r = proxy.psql(None, user="alice", file=str(script))
    assert r.rc == 3, f"psql -f with a refused statement: want exit 3\n{r}"
    assert r.stdout.split() == ["3"], f"want only the first statement's result\n{r}"
    assert f"psql:{script}:2: ERROR:" in r.stderr, str(r)
    assert "not reached" not in r.stdout, str(r)


def test_script_file_all_allowed(proxy, tmp_path, world):
    script = tmp_path / "ok.sql"
    script.write_text("SELECT count(*) FROM customers;\n"
                      "BEGIN;\nSELECT name FROM customers ORDER BY id;\nCOMMIT;\n")
    r = proxy.psql(None, user="bob", file=str(script))
    want = ["2"] + [c["name"] for c in world.customers_of("globex")]
    assert r.rc == 0 and [l for l in r.stdout.splitlines() if l and l not in ("BEGIN", "COMMIT")] == want, str(r)


def test_psql_syntax_error(proxy):
    r = proxy.psql("SELEC name FROM customers", user="alice", args=("-v", "VERBOSITY=verbose"))
    assert r.rc == 1 and "ERROR:  42601: syntax error" in r.stderr, str(r)
