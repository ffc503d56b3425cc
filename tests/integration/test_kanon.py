"""k-anonymous aggregates over a shared dataset (issue 10): only aggregate queries over dimensions
are answered, groups below k tenants (or below the minimum row count) never show, a differencing
attempt learns nothing about a suppressed group, and tenants that did not opt in neither query
nor contribute rows. Real PostgreSQL, real proxy, psycopg2."""
from pathlib import Path

import psycopg2
import pytest
import yaml

import harness

# (tenant, vendor, category, month, amount, invoice): k = 3 distinct tenants, min 3 rows.
ROWS = [
    # Paper/office/2026-01: acme, initech, umbrella (+ globex, which did not opt in): a safe cell
    ("acme", "Paper Co", "office", "2026-01", 100, "A-1"),
    ("initech", "Paper Co", "office", "2026-01", 200, "I-1"),
    ("umbrella", "Paper Co", "office", "2026-01", 300, "U-1"),
    ("globex", "Paper Co", "office", "2026-01", 5000, "G-1"),
    # Paper/office/2026-02: four opted-in tenants: safe
    ("acme", "Paper Co", "office", "2026-02", 10, "A-2"),
    ("initech", "Paper Co", "office", "2026-02", 20, "I-2"),
    ("umbrella", "Paper Co", "office", "2026-02", 30, "U-2"),
    ("hooli", "Paper Co", "office", "2026-02", 40, "H-2"),
    # Paper/print/2026-01: hooli alone (three rows): below k, must never be revealed
    ("hooli", "Paper Co", "print", "2026-01", 999, "H-3"),
    ("hooli", "Paper Co", "print", "2026-01", 1, "H-4"),
    ("hooli", "Paper Co", "print", "2026-01", 2, "H-5"),
    # Cloud/hosting/2026-01: two tenants: below k
    ("acme", "Cloud Inc", "hosting", "2026-01", 1000, "A-3"),
    ("initech", "Cloud Inc", "hosting", "2026-01", 1000, "I-3"),
    ("acme", "Cloud Inc", "hosting", "2026-01", 1000, "A-4"),
    # Cloud/hosting/2026-02: three tenants: safe
    ("acme", "Cloud Inc", "hosting", "2026-02", 7, "A-5"),
    ("initech", "Cloud Inc", "hosting", "2026-02", 8, "I-5"),
    ("umbrella", "Cloud Inc", "hosting", "2026-02", 9, "U-5"),
]
OPT_IN = ["acme", "initech", "umbrella", "hooli"]

SHARED = {
    "table": "public.vendor_spend",
    "tenant_column": "tenant_id",
    "opt_in": OPT_IN,
    "dimensions": ["vendor", "category", "month"],
    "measures": [{"column": "amount", "aggregates": ["sum", "avg", "count"]}],
    "min_tenants": 3,
    "min_rows": 3,
    "comment": "vendor spend pooled across opted-in tenants",
}


def kanon_policy(tmp: Path) -> Path:
    policy = yaml.safe_load(harness.DEFAULT_POLICY.read_text())
    policy["tenants"] += [{"id": t} for t in ("initech", "umbrella", "hooli")]
    policy["shared_datasets"] = [SHARED]
    path = tmp / "policy.yaml"
    path.write_text(yaml.safe_dump(policy, sort_keys=False))
    return path


@pytest.fixture(scope="module")
def kanon(pg, tmp_path_factory):
    with pg.superuser() as c:
        cur = c.cursor()
        cur.execute("CREATE TABLE public.vendor_spend (id serial PRIMARY KEY, tenant_id text NOT NULL, "
                    "vendor text NOT NULL, category text NOT NULL, month text NOT NULL, "
                    "amount numeric(10,2) NOT NULL, invoice_no text NOT NULL)")
        cur.executemany("INSERT INTO public.vendor_spend (tenant_id, vendor, category, month, amount, "
                        "invoice_no) VALUES (%s, %s, %s, %s, %s, %s)", ROWS)
        cur.execute(f"GRANT SELECT ON public.vendor_spend TO {harness.SERVICE_ROLE}")
    px = harness.Proxy(pg, policy=kanon_policy(tmp_path_factory.mktemp("kanon"))).start()
    yield px
    px.stop()
    with pg.superuser() as c:
        c.cursor().execute("DROP TABLE public.vendor_spend")


def rows(px, sql, user="alice"):
    with px.connect(user) as conn, conn.cursor() as cur:
        cur.execute(sql)
        return [tuple(float(v) if hasattr(v, "as_tuple") else v for v in r) for r in cur.fetchall()]


def refused(px, sql, user="alice") -> psycopg2.Error:
    conn = px.connect(user)
    try:
        with pytest.raises(psycopg2.Error) as info:
            conn.cursor().execute(sql)
        return info.value
    finally:
        conn.close()


def test_groups_below_k_are_omitted(kanon):
    got = rows(kanon, "SELECT vendor, category, month, sum(amount), count(*) FROM vendor_spend "
                      "GROUP BY vendor, category, month ORDER BY 1, 2, 3")
    # Exactly the three cells with >= 3 opted-in tenants; hooli's lone print cell and the
    # two-tenant Cloud/2026-01 cell are absent; globex's 5000 is not in the Paper/01 sum.
    assert got == [("Cloud Inc", "hosting", "2026-02", 24.0, 3),
                   ("Paper Co", "office", "2026-01", 600.0, 3),
                   ("Paper Co", "office", "2026-02", 100.0, 4)]


def test_differencing_by_coarser_grouping_reveals_nothing(kanon):
    # Without the cell filter, Paper Co in total would include hooli's print rows (1002), and
    # total minus the office groups would give them away. Coarse totals equal the sum of the
    # fine groups that are shown, so the difference is zero.
    by_vendor = dict(rows(kanon, "SELECT vendor, sum(amount) FROM vendor_spend GROUP BY vendor"))
    fine = rows(kanon, "SELECT vendor, sum(amount) AS s FROM vendor_spend "
                       "GROUP BY vendor, category, month")
    for vendor in ("Paper Co", "Cloud Inc"):
        assert by_vendor[vendor] == sum(s for v, s in fine if v == vendor)
    assert by_vendor == {"Paper Co": 700.0, "Cloud Inc": 24.0}
    total = rows(kanon, "SELECT sum(amount), count(*) FROM vendor_spend")
    assert total == [(724.0, 10)]
    # Narrowing by a dimension filter selects whole cells: the same numbers again.
    assert rows(kanon, "SELECT month, sum(amount) FROM vendor_spend WHERE vendor = 'Paper Co' "
                       "AND category <> 'office' GROUP BY month") == []
    assert rows(kanon, "SELECT sum(amount) FROM vendor_spend WHERE category IN ('print', 'office')") \
        == [(700.0,)]
    assert rows(kanon, "SELECT sum(amount) FROM vendor_spend WHERE month BETWEEN '2026-01' AND "
                       "'2026-02' AND vendor LIKE 'Paper%' AND NOT (category = 'x' OR month = 'y')") \
        == [(700.0,)]


@pytest.mark.parametrize("sql,fragment", [
    ("SELECT vendor, sum(amount) FROM vendor_spend WHERE tenant_id <> 'hooli' GROUP BY vendor",
     "tenant column"),
    ("SELECT tenant_id, sum(amount) FROM vendor_spend GROUP BY tenant_id", "tenant column"),
    ("SELECT vendor, sum(amount) FROM vendor_spend WHERE amount < 500 GROUP BY vendor", "amount"),
    ("SELECT vendor, sum(amount) FROM vendor_spend WHERE invoice_no <> 'H-3' GROUP BY vendor",
     "not shared"),
    ("SELECT vendor, sum(amount) FROM vendor_spend GROUP BY vendor HAVING count(*) < 3", "HAVING"),
    ("SELECT vendor, sum(amount) FROM vendor_spend WHERE vendor = (SELECT 'Paper Co') GROUP BY 1",
     "constants"),
])
def test_differencing_filters_are_refused(kanon, sql, fragment):
    e = refused(kanon, sql)
    assert e.pgcode == "42501", e.pgerror
    assert fragment in e.pgerror


@pytest.mark.parametrize("sql,fragment", [
    ("SELECT * FROM vendor_spend", "raw rows"),
    ("SELECT vendor, amount FROM vendor_spend", "amount"),
    ("SELECT invoice_no, count(*) FROM vendor_spend GROUP BY invoice_no", "not shared"),
    ("SELECT vendor FROM vendor_spend", "raw rows"),
    ("SELECT vendor, max(amount) FROM vendor_spend GROUP BY vendor", "max"),
    ("SELECT v.vendor, sum(v.amount) FROM vendor_spend v JOIN customers c ON true GROUP BY 1",
     "alone"),
    ("SELECT count(*) FROM customers WHERE EXISTS (SELECT 1 FROM vendor_spend)", "alone"),
])
def test_raw_rows_identifiers_and_amounts_are_refused(kanon, sql, fragment):
    e = refused(kanon, sql)
    assert e.pgcode == "42501", e.pgerror
    assert fragment in e.pgerror


def test_opted_out_tenant_cannot_query(kanon):
    e = refused(kanon, "SELECT vendor, sum(amount) FROM vendor_spend GROUP BY vendor", user="bob")
    assert e.pgcode == "42501"
    assert "has not opted in" in e.pgerror


def test_opted_out_tenant_contributes_nothing(kanon, pg):
    # Ground truth from PostgreSQL: the opted-in rows alone give the Paper/office/2026-01 cell.
    truth = pg.query("SELECT sum(amount), count(DISTINCT tenant_id) FROM public.vendor_spend "
                     "WHERE vendor = 'Paper Co' AND month = '2026-01' AND category = 'office' "
                     "AND tenant_id <> 'globex'")
    assert truth == [(600, 3)]
    got = rows(kanon, "SELECT sum(amount), avg(amount), count(amount) FROM vendor_spend "
                      "WHERE vendor = 'Paper Co' AND category = 'office' AND month = '2026-01'")
    assert got == [(600.0, 200.0, 3)]
    # Every row of globex in every group: none counted.
    counts = rows(kanon, "SELECT count(*) FROM vendor_spend")
    assert counts == [(10,)]


def test_same_answer_for_every_opted_in_tenant(kanon):
    sql = "SELECT vendor, sum(amount) FROM vendor_spend GROUP BY vendor ORDER BY vendor"
    assert rows(kanon, sql, "alice") == rows(kanon, sql, "carol") == \
        [("Cloud Inc", 24.0), ("Paper Co", 700.0)]


def test_protected_tables_work_as_before(kanon, pg):
    assert rows(kanon, "SELECT name FROM customers ORDER BY id") == \
        [r for r in pg.truth("acme", "SELECT name FROM customers ORDER BY id")[1]]
