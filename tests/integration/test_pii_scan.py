"""PII auto-detection through the real proxy: columns a policy shows plainly that hold email
addresses or phone numbers come back masked by default, a column opted out with `pii: none` comes
back as it is, `tenantwall scan` reports every finding with its evidence and action, and no
sampled value ever reaches the proxy's log, the audit log or the report.

The fixture adds columns to the sample database directly as superuser (and drops them after):
  contact       emails under a name that says nothing: listed plainly -> masked (by its values)
  hotline       phone numbers, listed with `pii: none` -> shown plainly
  mobile        all NULL, listed plainly -> masked by its name alone
  backup_email  emails, not listed -> hidden, only reported
  payout_iban   IBANs, not listed at first; a reload that lists it plainly masks it (redact)
"""
import json
import signal
import subprocess

import pytest

import harness
from checks import audit_events, mask_email, mask_phone, run, wait_for


CONTACTS = {1: "anna.ames@mail.example", 2: "art.abbott@mail.example", 3: "amy.a@mail.example",
            4: "gina.g@mail.example", 5: "gus.gold@mail.example"}
HOTLINES = {1: "+1-555-0199", 2: "+1-555-0198", 3: "+44 20 7946 0958", 4: "+49 30 1234567",
            5: "+1 (555) 123-4567"}
BACKUPS = {1: "anna@backup.example", 2: "art@backup.example", 3: "amy@backup.example",
           4: "gina@backup.example", 5: "gus@backup.example"}
IBANS = {1: "DE89 3704 0044 0532 0130 00", 2: "GB82WEST12345698765432", 3: "NL91ABNA0417164300",
         4: "FR1420041010050500013M02606", 5: "DE89370400440532013000"}
ACME = (1, 2, 3)
SAMPLED = [*CONTACTS.values(), *HOTLINES.values(), *BACKUPS.values(), *IBANS.values()]

EXTRA_COLUMNS = """      - contact
      - { name: hotline, pii: none }
      - mobile
"""


def policy_text(extra: str = EXTRA_COLUMNS) -> str:
    text = harness.DEFAULT_POLICY.read_text()
    anchor = "      - { name: ssn, mask: ssn, roles: { viewer: hide } }\n"
    assert anchor in text, "conf/policy.yaml changed its customers columns"
    return text.replace(anchor, anchor + extra, 1)


class AuditedProxy(harness.Proxy):
    """A proxy with an audit log next to its configuration."""

    def config_text(self):
        return super().config_text() + "audit:\n  path: audit.jsonl\n"

    def audit_text(self) -> str:
        path = self.tmp / "audit.jsonl"
        return path.read_text() if path.exists() else ""

    def audit_events(self) -> list[dict]:
        return audit_events(self.tmp / "audit.jsonl")

    @property
    def config_path(self):
        return self.tmp / "tenantwall.yaml"


@pytest.fixture(scope="module")
def pii_columns(pg):
    with pg.superuser("app") as c:
        cur = c.cursor()
        cur.execute("ALTER TABLE public.customers ADD COLUMN contact text, ADD COLUMN hotline text,"
                    " ADD COLUMN mobile text, ADD COLUMN backup_email text,"
                    " ADD COLUMN payout_iban text")
        for i in CONTACTS:
            cur.execute("UPDATE public.customers SET contact = %s, hotline = %s, backup_email = %s,"
                        " payout_iban = %s WHERE id = %s",
                        (CONTACTS[i], HOTLINES[i], BACKUPS[i], IBANS[i], i))
    yield
    with pg.superuser("app") as c:
        c.cursor().execute("ALTER TABLE public.customers DROP COLUMN contact, DROP COLUMN hotline,"
                           " DROP COLUMN mobile, DROP COLUMN backup_email,"
                           " DROP COLUMN payout_iban")


@pytest.fixture(scope="module")
def pii_proxy(pg, pii_columns, tmp_path_factory):
    policy = tmp_path_factory.mktemp("pii") / "policy.yaml"
    policy.write_text(policy_text())
    px = AuditedProxy(pg, policy=policy).start()
    yield px
    px.stop()




def assert_no_sampled_value(text: str, where: str):
    leaked = [v for v in SAMPLED if v in text]
    assert not leaked, f"sampled values {leaked} appear in {where}"


def test_detected_column_comes_back_masked(pii_proxy):
    conn = pii_proxy.connect("alice")
    try:
        _, rows = run(conn, "SELECT id, contact, mobile FROM customers ORDER BY id")
        assert rows == [(i, mask_email(CONTACTS[i]), None) for i in ACME]
        # Masked inside the fence: the raw value is no oracle either.
        _, rows = run(conn, f"SELECT count(*) FROM customers WHERE contact = '{CONTACTS[1]}'")
        assert rows == [(0,)]
        _, rows = run(conn, "SELECT * FROM customers ORDER BY id LIMIT 1")
        assert CONTACTS[1] not in str(rows) and mask_email(CONTACTS[1]) in rows[0]
    finally:
        conn.close()


def test_opted_out_column_comes_back_plain(pii_proxy):
    conn = pii_proxy.connect("alice")
    try:
        _, rows = run(conn, "SELECT id, hotline FROM customers ORDER BY id")
        assert rows == [(i, HOTLINES[i]) for i in ACME]
    finally:
        conn.close()


def test_policy_masks_and_hidden_columns_are_unchanged(pii_proxy, world):
    conn = pii_proxy.connect("alice")
    try:
        _, rows = run(conn, "SELECT id, email, phone FROM customers ORDER BY id")
        assert rows == [(c["id"], mask_email(c["email"]), mask_phone(c["phone"]))
                        for c in world.customers_of("acme")]
        with pytest.raises(Exception) as info:
            run(conn, "SELECT backup_email FROM customers")
        assert info.value.pgcode == "42703", info.value
    finally:
        conn.close()


def scan(px, *args) -> subprocess.CompletedProcess:
    return subprocess.run([str(harness.proxy_binary()), "scan", "--config", str(px.config_path),
                           *args], capture_output=True, text=True, timeout=60)


EXPECTED_REPORT = """\
PII scan: 20 columns of protected tables, 8 findings
public.customers.email         email   name, values (4/4 sampled values, 100%)  -> policy masks it (email); roles admin: allow, owner: allow
public.customers.phone         phone   name, values (5/5 sampled values, 100%)  -> policy masks it (phone)
public.customers.ssn           ssn     name, values (5/5 sampled values, 100%)  -> policy masks it (ssn); roles viewer: hide
public.customers.contact       email   values (5/5 sampled values, 100%)  -> masked by default (email)
public.customers.hotline       phone   values (5/5 sampled values, 100%)  -> opted out (pii: none), shown as the policy says
public.customers.mobile        phone   name  -> masked by default (phone)
public.customers.backup_email  email   name, values (5/5 sampled values, 100%)  -> hidden (not listed in the policy)
public.customers.payout_iban   iban    name, values (5/5 sampled values, 100%)  -> hidden (not listed in the policy)
"""


def test_scan_prints_the_findings(pii_proxy):
    p = scan(pii_proxy)
    assert p.returncode == 0, p.stderr
    # customers' 12 columns, orders' 6, tenants' 2; notes (free text) and names are no findings.
    assert p.stdout == EXPECTED_REPORT, p.stdout
    assert p.stderr == ""
    assert_no_sampled_value(p.stdout, "the scan report")


def test_scan_json(pii_proxy):
    p = scan(pii_proxy, "--json")
    assert p.returncode == 0, p.stderr
    report = json.loads(p.stdout)
    assert report["columns_scanned"] == 20 and report["sampled"] is True
    by_column = {f["column"]: f for f in report["findings"]}
    assert by_column["contact"] == {
        "schema": "public", "table": "customers", "column": "contact", "kind": "email",
        "evidence": ["values"], "sampled": 5, "matched": 5, "share": 1.0,
        "action": "masked_by_default", "mask": "email", "roles": ""}
    assert by_column["hotline"]["action"] == "opted_out" and by_column["hotline"]["mask"] is None
    assert by_column["mobile"]["evidence"] == ["name"] and by_column["mobile"]["sampled"] == 0
    assert by_column["payout_iban"]["kind"] == "iban"
    assert by_column["payout_iban"]["action"] == "hidden"
    assert sorted(by_column) == ["backup_email", "contact", "email", "hotline", "mobile",
                                 "payout_iban", "phone", "ssn"]
    assert_no_sampled_value(p.stdout, "the JSON scan report")


def test_scan_without_a_database_fails(pii_proxy, tmp_path):
    config = pii_proxy.config_path.read_text().replace(f"port: {pii_proxy.pg.port}",
                                                       f"port: {harness.free_port()}")
    (tmp_path / "tenantwall.yaml").write_text(config)
    p = subprocess.run([str(harness.proxy_binary()), "scan", "--config",
                        str(tmp_path / "tenantwall.yaml")], capture_output=True, text=True,
                       timeout=60)
    assert p.returncode == 2 and p.stdout == ""
    assert p.stderr.startswith("tenantwall scan: cannot read the columns: "), p.stderr


def test_log_and_audit_list_findings_without_values(pii_proxy):
    line = next(l for l in pii_proxy.output.splitlines() if "PII scan of" in l)
    assert "public.customers.contact email [values (5/5 sampled values, 100%)] masked by default " \
           "(email)" in line, line
    assert "public.customers.hotline phone [values (5/5 sampled values, 100%)] opted out" in line
    # The policy load's own audit event lists them.
    events = [e for e in pii_proxy.audit_events()
              if e["kind"] == "policy" and not e["reason"].startswith("column facts")]
    assert len(events) == 1, events
    assert events[0]["decision"] == "ok"
    assert events[0]["reason"].startswith("loaded at start-up from "), events[0]
    assert "; PII scan of 20 columns: 8 findings: public.customers.email email" in \
        events[0]["reason"], events[0]
    assert "public.customers.mobile phone [name] masked by default (phone)" in events[0]["reason"]
    assert_no_sampled_value(pii_proxy.audit_text(), "the audit log")
    assert_no_sampled_value(pii_proxy.output, "the proxy's log")


def test_check_policy_refuses_a_bad_opt_out(tmp_path):
    bad = tmp_path / "policy.yaml"
    bad.write_text(policy_text(EXTRA_COLUMNS.replace("pii: none", "pii: off")))
    p = subprocess.run([str(harness.proxy_binary()), "check-policy", str(bad)],
                       capture_output=True, text=True, timeout=30)
    line = next(n for n, text in enumerate(bad.read_text().splitlines(), 1) if "pii: off" in text)
    column = bad.read_text().splitlines()[line - 1].index("off") + 1
    assert p.returncode == 1
    assert p.stderr == (f"{bad}:{line}:{column}: column 'hotline': pii must be 'none' (it opts "
                        f"the column out of PII auto-detection)\n")


def test_reload_scans_again(pg, pii_columns, tmp_path):
    """A reload that lists a column the database holds IBANs in masks it before any client can
    read it plainly, and the rescan is logged and audited with the reload."""
    policy = tmp_path / "policy.yaml"
    policy.write_text(policy_text())
    px = AuditedProxy(pg, policy=policy).start()
    try:
        conn = px.connect("bob")
        policy.write_text(policy_text(EXTRA_COLUMNS + "      - payout_iban\n"))
        before = px.output.count("PII scan of")
        px.process.send_signal(signal.SIGHUP)
        wait_for(lambda: px.output.count("PII scan of") > before, "the rescan to be logged")
        assert "policy reload rejected" not in px.output, px.output[-3000:]
        _, rows = run(conn, "SELECT id, payout_iban FROM customers ORDER BY id")
        assert rows == [(4, "***"), (5, "***")]
        events = [e for e in px.audit_events()
                  if e["kind"] == "policy" and "PII scan of" in e["reason"]]
        assert len(events) == 2 and events[1]["policy_version"] > events[0]["policy_version"]
        assert events[1]["reason"].startswith("reloaded (SIGHUP)"), events[1]
        assert "public.customers.payout_iban iban [name, values (5/5 sampled values, 100%)] " \
               "masked by default (redact)" in events[1]["reason"], events[1]
        assert_no_sampled_value(px.audit_text(), "the audit log")
        assert_no_sampled_value(px.output, "the proxy's log")
        conn.close()
    finally:
        px.stop()
