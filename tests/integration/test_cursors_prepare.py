"""Cursors, SQL-level prepared statements and EXPLAIN run over the rewritten statement: the
tenant's rows only, masks intact."""
import psycopg2
import pytest


def test_server_side_cursor_is_scoped_and_masked(connect):
    conn = connect("alice", autocommit=False)
    cur = conn.cursor(name="tw_cursor")  # psycopg2 sends DECLARE ... CURSOR and FETCH
    cur.itersize = 1
    cur.execute("SELECT name, ssn FROM customers ORDER BY id")
    rows = list(cur)
    assert rows == [("Alice Anders", "***-**-6789"), ("Arthur Abbott", "***-**-7890"),
                    ("Amy Adams", "***-**-8901")], rows
    cur.close()
    conn.rollback()


def test_declare_fetch_move_close(connect):
    conn = connect("bob", autocommit=False)
    cur = conn.cursor()
    cur.execute("DECLARE c SCROLL CURSOR FOR SELECT id, email FROM customers ORDER BY id")
    cur.execute("FETCH 1 FROM c")
    assert cur.fetchall() == [(4, "g***@globex.example")]
    cur.execute("MOVE LAST IN c")
    cur.execute("FETCH PRIOR FROM c")
    assert cur.fetchall() == [(4, "g***@globex.example")]
    cur.execute("CLOSE c")
    conn.rollback()


def test_cursor_over_a_refused_query_is_refused(connect):
    conn = connect("alice", autocommit=False)
    cur = conn.cursor()
    with pytest.raises(psycopg2.Error) as info:
        cur.execute("DECLARE c CURSOR FOR SELECT * FROM internal_audit")
    assert info.value.pgcode == "42501"
    conn.rollback()


def test_sql_prepare_execute_rewrites_the_body(connect):
    conn = connect("alice")
    cur = conn.cursor()
    cur.execute("PREPARE p(int) AS SELECT name, email FROM customers WHERE id = $1")
    cur.execute("EXECUTE p(2)")
    assert cur.fetchall() == [("Arthur Abbott", "a***@acme.example")]
    cur.execute("EXECUTE p(4)")  # globex's customer: invisible
    assert cur.fetchall() == []
    cur.execute("DEALLOCATE p")
    with pytest.raises(psycopg2.Error) as info:
        cur.execute("PREPARE q AS SELECT * FROM internal_audit")
    assert info.value.pgcode == "42501"


def test_explain_shows_the_fenced_plan_without_costs(connect):
    conn = connect("alice")
    cur = conn.cursor()
    cur.execute("EXPLAIN SELECT * FROM customers WHERE id < 5")
    plan = "\n".join(r[0] for r in cur.fetchall())
    assert "Subquery Scan on customers" in plan and "(tenant_id = 'acme'::text)" in plan, plan
    assert "cost=" not in plan, plan  # estimates come from every tenant's statistics
    # A key lookup copied into the fence leaves the Subquery Scan nothing to do, so PostgreSQL
    # may drop it from the plan: the tenant filter is then on the scan of the table itself.
    cur.execute("EXPLAIN SELECT * FROM customers WHERE id = 1")
    plan = "\n".join(r[0] for r in cur.fetchall())
    assert "(tenant_id = 'acme'::text)" in plan and "cost=" not in plan, plan
    # EXPLAIN ANALYZE: actual figures of acme's rows only (test_explain_analyze.py)
    cur.execute("EXPLAIN ANALYZE SELECT * FROM customers")
    plan = "\n".join(r[0] for r in cur.fetchall())
    assert "(actual rows=3 loops=1)" in plan, plan
    assert "Rows Removed" not in plan and "cost=" not in plan, plan
