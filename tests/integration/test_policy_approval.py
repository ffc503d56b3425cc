"""Reviewed policy changes (issue 10): with approval.approvers_dir configured, a policy is accepted
only with a signature by a configured approver other than its author; unsigned, self-approved,
foreign and stale approvals are refused and audited; an accepted change audits author, approver
and who gains or loses what; `tenantwall policy rollback` reinstates the previous version while
sessions keep running."""
import hashlib
import json
import subprocess
import threading
import time

import psycopg2
import pytest
import yaml

import admin_helpers
import harness


def keypair(directory, name, algorithm="ed25519"):
    key = directory / f"{name}.key"
    if algorithm == "ed25519":
        subprocess.run(["openssl", "genpkey", "-algorithm", "ed25519", "-out", str(key)], check=True,
                       capture_output=True)
    else:
        subprocess.run(["openssl", "ecparam", "-name", "prime256v1", "-genkey", "-noout", "-out",
                        str(key)], check=True, capture_output=True)
    return key


def public_key(key, path):
    subprocess.run(["openssl", "pkey", "-in", str(key), "-pubout", "-out", str(path)], check=True,
                   capture_output=True)


@pytest.fixture
def world(tmp_path):
    """Keys for alice and bob (configured approvers; bob's is ECDSA) and eve (not configured)."""
    keys = tmp_path / "keys"
    approvers = tmp_path / "approvers"
    keys.mkdir()
    approvers.mkdir()
    out = {"dir": tmp_path, "approvers": approvers}
    for name, algorithm in (("alice", "ed25519"), ("bob", "ec"), ("eve", "ed25519")):
        out[name] = keypair(keys, name, algorithm)
        if name != "eve":
            public_key(out[name], approvers / f"{name}.pem")
    return out


def policy_text(author="alice", drop_user=None, drop_column=None, extra=""):
    policy = yaml.safe_load(harness.DEFAULT_POLICY.read_text())
    policy = {"author": author, **policy}
    if drop_user:
        policy["users"] = [u for u in policy["users"] if u["name"] != drop_user]
    if drop_column:
        for table in policy["protected_tables"]:
            table["columns"] = [c for c in table["columns"]
                                if (c if isinstance(c, str) else c["name"]) != drop_column]
    return yaml.safe_dump(policy, sort_keys=False) + extra


def write(path, text, signers=(), world=None):
    """Writes the policy and a fresh signature file with one entry per (signer id, key)."""
    path.write_text(text)
    sig = path.with_name(path.name + ".sig")
    sig.unlink(missing_ok=True)
    for signer, key in signers:
        p = admin_helpers.cli("policy", "sign", "--key", key, "--signer", signer, path)
        assert p.returncode == 0, p.stderr


def policy_events(px, count=1):
    """The policy loads of the audit log (not the column-facts refreshes), once there are at
    least count (the log is written by a thread of its own)."""
    deadline = time.monotonic() + 5
    while True:
        events = [e for e in px.audit_events()
                  if e["kind"] == "policy" and not e["reason"].startswith("column facts")]
        if len(events) >= count or time.monotonic() > deadline:
            return events
        time.sleep(0.05)


def can_login(px, user):
    try:
        px.connect(user).close()
        return True
    except psycopg2.OperationalError:
        return False


def test_unsigned_self_approved_and_foreign_changes_are_refused_and_audited(world, pg):
    policy = world["dir"] / "policy.yaml"
    write(policy, policy_text(), [("bob", world["bob"])])
    px = admin_helpers.start(pg, policy=policy, approvers_dir=world["approvers"], poll_ms=0)
    try:
        start = policy_events(px)[0]
        assert start["decision"] == "ok" and start["user"] == "alice"
        assert "author alice, approved by bob" in start["reason"]
        # Nothing to roll back to yet.
        status, text = px.request("POST", "/rollback")
        assert status == 409 and "no previous policy version" in text

        change = policy_text(drop_user="carol")
        cases = [
            ([], "no approval signature file"),
            ([("alice", world["alice"])], "'alice' is the author and cannot approve"),
            ([("eve", world["eve"])], "'eve' is not a configured approver"),
            # eve signs claiming to be bob: bob's key does not verify it
            ([("bob", world["eve"])], "the signature of 'bob' does not verify"),
        ]
        for n, (signers, why) in enumerate(cases):
            write(policy, change, signers)
            status, text = px.request("POST", "/reload")
            assert status == 422, text
            assert why in json.loads(text)["error"]
            event = policy_events(px, n + 2)[-1]
            assert event["decision"] == "fail" and why in event["reason"]
            assert can_login(px, "carol")  # the running policy stayed
        # Approved, then edited after the approval.
        write(policy, change, [("bob", world["bob"])])
        policy.write_text(change + "# edited after approval\n")
        status, text = px.request("POST", "/reload")
        assert status == 422 and "is for another file" in text
        # The approver as author approving their own change.
        write(policy, policy_text(author="bob", drop_user="carol"), [("bob", world["bob"])])
        status, text = px.request("POST", "/reload")
        assert status == 422 and "'bob' is the author" in text
        assert can_login(px, "carol")

        # Written by alice, approved by bob: accepted, both named, the change spelled out.
        write(policy, change, [("alice", world["alice"]), ("bob", world["bob"])])
        status, text = px.request("POST", "/reload")
        assert status == 200, text
        event = policy_events(px, len(cases) + 4)[-1]
        assert event["decision"] == "ok" and event["user"] == "alice"
        assert "author alice, approved by bob" in event["reason"]
        assert "- user carol (tenant acme) can no longer log in" in event["reason"]
        assert not can_login(px, "carol")
        assert can_login(px, "alice")
        verify = admin_helpers.cli("audit", "verify", px.tmp / "audit.jsonl")
        assert verify.returncode == 0, verify.stdout + verify.stderr
    finally:
        px.stop()


def test_an_unapproved_policy_does_not_start(world, pg):
    policy = world["dir"] / "policy.yaml"
    write(policy, policy_text(), [("alice", world["alice"])])
    with pytest.raises(harness.HarnessError) as info:
        admin_helpers.start(pg, policy=policy, approvers_dir=world["approvers"], poll_ms=0)
    assert "cannot load policy" in str(info.value)
    assert "'alice' is the author and cannot approve" in str(info.value)


def test_policy_diff_command(world):
    old, new = world["dir"] / "old.yaml", world["dir"] / "new.yaml"
    old.write_text(policy_text())
    new.write_text(policy_text(drop_user="carol", drop_column="phone"))
    p = admin_helpers.cli("policy", "diff", old, new)
    assert p.returncode == 0, p.stderr
    lines = p.stdout.splitlines()
    assert "- user carol (tenant acme) can no longer log in" in lines
    assert "- column public.customers.phone: role analyst loses it (hidden)" in lines
    assert all(line[:2] in ("+ ", "- ", "~ ") for line in lines)
    p = admin_helpers.cli("policy", "diff", old, old)
    assert p.stdout == "no change in access\n"


class Traffic(threading.Thread):
    """One session of alice's, selecting the phone column over and over."""

    def __init__(self, px):
        super().__init__(daemon=True)
        self.conn = px.connect("alice")
        self.outcomes = []
        self.stop = threading.Event()

    def run(self):
        cur = self.conn.cursor()
        while not self.stop.is_set():
            try:
                cur.execute("SELECT phone FROM customers ORDER BY id")
                self.outcomes.append(("ok", tuple(r[0] for r in cur.fetchall())))
            except psycopg2.Error as e:
                self.outcomes.append((e.pgcode, None))
            time.sleep(0.005)

    def wait_for(self, outcome, timeout=10):
        deadline = time.monotonic() + timeout
        while time.monotonic() < deadline:
            if self.outcomes and self.outcomes[-1][0] == outcome:
                return
            time.sleep(0.02)
        raise AssertionError(f"traffic never saw {outcome}: {self.outcomes[-5:]}")


def test_rollback_restores_the_previous_policy_under_live_traffic(world, pg):
    policy = world["dir"] / "policy.yaml"
    v1 = policy_text()
    write(policy, v1, [("bob", world["bob"])])
    v1_sig = policy.with_name("policy.yaml.sig").read_text()
    px = admin_helpers.start(pg, policy=policy, approvers_dir=world["approvers"], poll_ms=0)
    traffic = Traffic(px)
    try:
        traffic.start()
        traffic.wait_for("ok")
        masked = traffic.outcomes[-1][1]
        assert masked == tuple(r for r, in pg.truth("acme", "SELECT phone FROM customers ORDER BY id")[1])

        write(policy, policy_text(drop_column="phone"), [("bob", world["bob"])])
        status, text = px.request("POST", "/reload")
        assert status == 200, text
        traffic.wait_for("42703")  # phone is hidden now: it does not exist for alice

        p = admin_helpers.cli("policy", "rollback", "--config", px.config_path, "--admin",
                              f"127.0.0.1:{px.admin_port()}")
        assert p.returncode == 0, p.stdout + p.stderr
        answer = json.loads(p.stdout)
        assert answer["ok"] is True
        assert answer["sha256"] == hashlib.sha256(v1.encode()).hexdigest()
        assert "+ column public.customers.phone: role analyst gains it, masked (phone)" \
            in answer["changes"]
        traffic.wait_for("ok")
        time.sleep(0.1)
    finally:
        traffic.stop.set()
        traffic.join(5)
    try:
        # One session throughout: the phases are ok..., 42703..., ok... and nothing else.
        phases = [o for i, o in enumerate(traffic.outcomes)
                  if i == 0 or o[0] != traffic.outcomes[i - 1][0]]
        assert [p[0] for p in phases] == ["ok", "42703", "ok"]
        assert all(o == ("ok", masked) or o == ("42703", None) for o in traffic.outcomes)
        assert traffic.conn.closed == 0
        traffic.conn.close()
        # The previous file and its approval are back on disk, and the running policy is it.
        assert policy.read_text() == v1
        assert policy.with_name("policy.yaml.sig").read_text() == v1_sig
        status, text = px.request("GET", "/policy")
        assert json.loads(text)["sha256"] == hashlib.sha256(v1.encode()).hexdigest()
        policy_events(px, 3)
        events = px.audit_events()
        assert any(e["kind"] == "admin" and e["reason"] == "POST /rollback" and
                   e["decision"] == "ok" for e in events)
        restored = [e for e in events if e["kind"] == "policy" and "rollback by admin" in e["reason"]]
        assert len(restored) == 1 and restored[0]["decision"] == "ok"
        assert "author alice, approved by bob" in restored[0]["reason"]
        # Without the token a rollback is refused.
        assert px.request("POST", "/rollback", token=None)[0] == 401
    finally:
        px.stop()
