"""Live policy reload: a changed file takes effect for new statements without dropping sessions;
an invalid file keeps the running policy; a Kubernetes ConfigMap symlink swap is picked up."""
import os
import shutil
import subprocess
import time
from pathlib import Path

import psycopg2
import pytest

import harness
import wire
from checks import wait_for
from test_protocol_exact import SYNC, Session, bind, execute, parse



def masked_name_policy(text):
    # Same policy, with the customers' name column masked too.
    return text.replace("      - name\n", "      - { name: name, mask: redact }\n", 1)




def names(conn):
    with conn.cursor() as cur:
        cur.execute("SELECT name FROM customers ORDER BY id")
        return [r[0] for r in cur.fetchall()]


def test_edit_takes_effect_and_sessions_survive(tmp_path, start_proxy):
    policy = tmp_path / "policy.yaml"
    original = harness.DEFAULT_POLICY.read_text()
    assert masked_name_policy(original) != original
    policy.write_text(original)
    px = start_proxy(policy=policy)
    conn = px.connect("alice")
    assert names(conn) == ["Alice Anders", "Arthur Abbott", "Amy Adams"]

    tmp = tmp_path / "policy.yaml.new"
    tmp.write_text(masked_name_policy(original))
    os.replace(tmp, policy)  # atomic, as editors and config management do
    wait_for(lambda: names(conn) == ["***", "***", "***"], "the masked name after reload")
    # The reloading thread logs after the swap, so a session may see the new policy first.
    wait_for(lambda: "policy reloaded" in px.output, "the reload in the log")
    # A new session sees the new policy too.
    assert names(px.connect("bob")) == ["***", "***"]


def test_invalid_file_keeps_running_policy(tmp_path, start_proxy):
    policy = tmp_path / "policy.yaml"
    policy.write_text(harness.DEFAULT_POLICY.read_text())
    px = start_proxy(policy=policy)
    conn = px.connect("alice")
    policy.write_text("tenants: [{id: acme}]\nprotected_tabels: oops\n")
    wait_for(lambda: "reload rejected" in px.output, "the rejection in the log")
    assert "unknown key 'protected_tabels'" in px.output
    assert names(conn) == ["Alice Anders", "Arthur Abbott", "Amy Adams"]
    # New logins still authenticate against the running policy.
    assert names(px.connect("bob")) == ["Gina Grant", "Gus Gold"]


class SymlinkPolicyProxy(harness.Proxy):
    """Names the policy by its symlinked path, as a pod's mount does (the harness resolves it)."""

    def config_text(self):
        text = super().config_text()
        resolved = str(self.policy.resolve())
        assert resolved in text
        return text.replace(resolved, str(self.policy))


def test_configmap_symlink_swap_is_picked_up(tmp_path, pg):
    # The layout kubelet writes: policy.yaml -> ..data/policy.yaml, ..data -> ..<timestamp>/
    mount = tmp_path / "mount"
    v1 = mount / "..2026_01"
    v1.mkdir(parents=True)
    (v1 / "policy.yaml").write_text(harness.DEFAULT_POLICY.read_text())
    os.symlink("..2026_01", mount / "..data")
    os.symlink("..data/policy.yaml", mount / "policy.yaml")
    px = SymlinkPolicyProxy(pg, policy=mount / "policy.yaml").start()
    try:
        swap_and_check(px, mount)
    finally:
        px.stop()


def swap_and_check(px, mount):
    conn = px.connect("alice")
    assert names(conn)[0] == "Alice Anders"
    assert str(mount / "policy.yaml") in px.config_text()

    v2 = mount / "..2026_02"
    v2.mkdir()
    (v2 / "policy.yaml").write_text(masked_name_policy(harness.DEFAULT_POLICY.read_text()))
    os.symlink("..2026_02", mount / "..data_tmp")
    os.replace(mount / "..data_tmp", mount / "..data")  # the atomic swap kubelet does
    wait_for(lambda: names(conn)[0] == "***", "the swapped policy")


def test_removed_user_cannot_log_in_after_reload(tmp_path, start_proxy):
    policy = tmp_path / "policy.yaml"
    text = harness.DEFAULT_POLICY.read_text()
    policy.write_text(text)
    px = start_proxy(policy=policy)
    carol = px.connect("carol")
    start = text.index("  - name: carol")
    end = text.index("\n\n", start)
    policy.write_text(text[:start] + text[end + 1:])

    def refused():
        try:
            px.connect("carol").close()
            return False
        except psycopg2.OperationalError as e:
            return "password authentication failed" in str(e)

    wait_for(refused, "carol's login to be refused")
    # Her authenticated session keeps its principal until it ends.
    assert names(carol)[0] == "Alice Anders"


def proxy_with_own_policy(tmp_path, start_proxy):
    """A proxy on a copy of the default policy: (proxy, the copy's path, its text)."""
    policy = tmp_path / "policy.yaml"
    original = harness.DEFAULT_POLICY.read_text()
    policy.write_text(original)
    return start_proxy(policy=policy), policy, original


def replace_policy(px, policy, text):
    """Replaces the policy file atomically and waits until the proxy has reloaded it."""
    seen = px.output.count("policy reloaded")
    tmp = policy.with_name(policy.name + ".new")
    tmp.write_text(text)
    os.replace(tmp, policy)
    wait_for(lambda: px.output.count("policy reloaded") > seen, "the reload in the log")


def test_statement_prepared_before_a_reload_is_decided_again(tmp_path, start_proxy):
    """A protocol-level statement keeps the rewrite PostgreSQL parsed; after a reload that
    changes it (here: names masked) the statement is refused until the client prepares it
    again, so the new mask reaches it too. One the reload leaves as it was goes on."""
    px, policy, original = proxy_with_own_policy(tmp_path, start_proxy)
    s = Session(px, "alice")
    by_id = "SELECT name FROM customers ORDER BY id"
    plain = [("Alice Anders",), ("Arthur Abbott",), ("Amy Adams",)]
    assert s.run(parse("p1", by_id), parse("p2", "SELECT count(*) FROM customers"),
                 parse("", by_id), SYNC).tags == "111Z"
    assert s.run(bind("", "p1"), execute(), SYNC).rows() == plain

    replace_policy(px, policy, masked_name_policy(original))

    r = s.run(bind("", "p2"), execute(), SYNC)
    assert r.rows() == [("3",)] and not r.codes, str(r)
    for name in ("p1", ""):
        r = s.run(bind("", name), execute(), SYNC)
        assert r.codes == ["26000"] and r.ready == "I" and not r.rows(), str(r)
        assert "earlier tenantwall policy" in r.errors[0].text, str(r)
    r = s.run(wire.message(b"D", b"Sp1\0"), SYNC)
    assert r.codes == ["26000"], str(r)
    # Prepared again, under the policy now in force.
    r = s.run(wire.message(b"C", b"Sp1\0"), parse("p1", by_id), bind("", "p1"), execute(), SYNC)
    assert r.rows() == [("***",)] * 3 and not r.codes, str(r)
    r = s.run(parse("", by_id), bind(), execute(), SYNC)
    assert r.rows() == [("***",)] * 3 and not r.codes, str(r)


def test_sql_prepare_before_a_reload_is_checked_at_execute(tmp_path, start_proxy):
    """PostgreSQL keeps the rewrite a SQL-level PREPARE had: after a reload that changes it, an
    EXECUTE (simple or extended protocol) is refused until the client deallocates it (a
    DEALLOCATE that failed does not count) and prepares it again; one left as it was goes on."""
    px, policy, original = proxy_with_own_policy(tmp_path, start_proxy)
    s = Session(px, "alice")
    prepare = "PREPARE by_id AS SELECT name FROM customers ORDER BY id"
    plain = [("Alice Anders",), ("Arthur Abbott",), ("Amy Adams",)]
    assert s.query(prepare).codes == []
    assert s.query("PREPARE counted AS SELECT count(*) FROM customers").codes == []
    assert s.run(parse("ex", "EXECUTE by_id"), SYNC).tags == "1Z"
    assert s.query("EXECUTE by_id").rows() == plain

    def refused(r):
        assert r.codes == ["26000"] and not r.rows() and r.ready in "IT", str(r)
        assert "earlier tenantwall policy" in r.errors[0].text, str(r)

    replace_policy(px, policy, masked_name_policy(original))
    assert s.query("EXECUTE counted").rows() == [(3,)]
    refused(s.query("EXECUTE by_id"))
    refused(s.query("SELECT 1; EXECUTE by_id"))
    refused(s.run(bind("", "ex"), execute(), SYNC))
    refused(s.run(parse("", "EXECUTE by_id"), bind(), execute(), SYNC))
    # PREPARE again while PostgreSQL still holds the old one: it fails there, and the old one
    # stays refused.
    assert s.query(prepare).codes == ["42P05"]
    refused(s.query("EXECUTE by_id"))
    # A DEALLOCATE that fails (in an aborted transaction) leaves it in place, and refused.
    assert s.query("BEGIN").ready == "T"
    assert s.query("SELECT 1 / 0").codes == ["22012"]
    assert s.query("DEALLOCATE by_id").codes == ["25P02"]
    assert s.query("ROLLBACK").ready == "I"
    refused(s.query("EXECUTE by_id"))
    # Deallocated and prepared again: the policy now in force.
    assert s.query("DEALLOCATE by_id").codes == []
    assert s.query(prepare).codes == []
    assert s.query("EXECUTE by_id").rows() == [("***",)] * 3
    r = s.run(bind("", "ex"), execute(), SYNC)
    assert r.rows() == [("***",)] * 3 and not r.codes, str(r)
    # Back to the original policy; DEALLOCATE ALL and a PREPARE in one string.
    replace_policy(px, policy, original)
    refused(s.query("EXECUTE by_id"))
    r = s.query(f"DEALLOCATE ALL; {prepare}")
    assert r.codes == [] and r.completions() == ["DEALLOCATE ALL", "PREPARE"], str(r)
    assert s.query("EXECUTE by_id").rows() == plain
    assert s.query("EXECUTE counted").codes == ["26000"]  # gone with DEALLOCATE ALL
    s.close()


def test_pgjdbc_statement_cache_heals_across_a_reload(tmp_path, start_proxy):
    """pgJDBC's named server statement from before the reload: the proxy's 26000 makes the
    driver prepare it again by itself, and every execution after the reload is masked."""
    driver = Path("/usr/share/java/postgresql.jar")
    source = Path(__file__).resolve().parent / "clients" / "JdbcReload.java"
    if not (shutil.which("javac") and driver.exists()):
        pytest.fail(f"javac or {driver} missing: run scripts/install-deps", pytrace=False)
    classes = tmp_path / "classes"
    p = subprocess.run(["javac", "-d", str(classes), str(source)], capture_output=True, text=True,
                       timeout=180, stdin=subprocess.DEVNULL)
    assert p.returncode == 0, p.stderr
    policy = tmp_path / "policy.yaml"
    original = harness.DEFAULT_POLICY.read_text()
    policy.write_text(original)
    px = start_proxy(policy=policy)
    java = subprocess.Popen(["java", "-cp", f"{classes}:{driver}", "JdbcReload", str(px.port),
                             "alice", harness.USERS["alice"][0]],
                            stdin=subprocess.PIPE, stdout=subprocess.PIPE, text=True)
    try:
        lines = []
        for line in java.stdout:
            if line.startswith("READY"):
                tmp = tmp_path / "policy.yaml.new"
                tmp.write_text(masked_name_policy(original))
                os.replace(tmp, policy)
                wait_for(lambda: "policy reloaded" in px.output, "the reload in the log")
                java.stdin.write("go\n")
                java.stdin.flush()
                continue
            lines.append(line.rstrip("\n"))
        assert java.wait(timeout=60) == 0
    finally:
        if java.poll() is None:
            java.kill()
    assert lines == ["before ok Alice Anders,Arthur Abbott,Amy Adams,"] * 3 + \
        ["after ok ***,***,***,"] * 3, lines
