"""pgbench through the proxy with scripts that check isolation and masking in every
transaction: any other tenant's row, raw PII or wrong row count makes pgbench evaluate a
division by zero, which aborts the client and fails the run. Run in -M simple, extended and
prepared (named statements reused thousands of times), in pipeline mode, with what a script
can capture (\\gset) echoed and judged, and with -D variables trying to escape in simple mode
(where pgbench pastes them into the SQL text). test_pgbench.py is the short tour."""
import os
import re
import subprocess

import pytest

from checks import assert_text_clean, mask_email, mask_phone, mask_ssn, tenant_of
from harness import USERS

MODES = ["simple", "extended", "prepared"]

# Every transaction: a random id from both tenants' ranges; the counts must match the principal's
# slice exactly (:first..:last are the principal's ids, passed with -D), and nothing unmasked.
CHECK_SCRIPT = r"""\set id random(1, 6)
SELECT count(*) AS n,
       count(*) FILTER (WHERE ssn NOT LIKE '***-**-____' OR phone NOT LIKE '***-***-____'
                        OR (email IS NOT NULL AND email NOT LIKE '_***@%')) AS raw,
       count(DISTINCT tenant_id) AS tenants
  FROM customers WHERE id = :id \gset
\if :raw <> 0 OR :tenants > 1
\set leaked 1 / 0
\endif
\if (:id >= :first AND :id <= :last AND :n <> 1) OR ((:id < :first OR :id > :last) AND :n <> 0)
\set wrong_count 1 / 0
\endif
SELECT count(*) AS orders FROM orders o JOIN customers c ON c.id = o.customer_id WHERE c.id = :id \gset
\if (:id < :first OR :id > :last) AND :orders <> 0
\set foreign_orders 1 / 0
\endif
SELECT name, email, phone, ssn FROM customers WHERE id BETWEEN :first AND :id ORDER BY id;
"""

PIPELINE_SCRIPT = r"""\set id random(1, 6)
\startpipeline
SELECT name, ssn FROM customers WHERE id = :id;
SELECT count(*) FROM orders WHERE customer_id = :id;
SELECT code FROM countries ORDER BY code;
\endpipeline
"""

# What a script can capture and exfiltrate: everything it can see, one \gset per id of both
# tenants, echoed by \shell. pgbench substitutes only whole :variable words in \shell, hands the
# line (at most 256 bytes) to the shell, so each value travels hex-encoded on its own line.
PEEK_COLUMNS = {
    "c": ("customers", "id || '|' || tenant_id || '|' || name || '|' || coalesce(email, '-') || '|' "
                       "|| phone || '|' || ssn"),
    "o": ("orders", "id || '|' || customer_id || '|' || amount"),
}
PEEK_SCRIPT = "".join(
    f"SELECT encode(convert_to(coalesce(max({expr}), 'none'), 'UTF8'), 'hex') AS {v}{i} "
    f"FROM {table} WHERE id = {i} \\gset\n"
    f"\\shell echo {v}{i}= :{v}{i}\n"
    for i in range(1, 7) for v, (table, expr) in PEEK_COLUMNS.items())


def echoed(out: str, label: str) -> str | None:
    m = re.search(rf"^{label}= ([0-9a-f]*)$", out, re.M)
    return bytes.fromhex(m.group(1)).decode() if m else None


def pgbench(proxy, user, tmp_path, script: str, *args, timeout=120) -> subprocess.CompletedProcess:
    path = tmp_path / f"script-{abs(hash((script, args)))}.sql"
    path.write_text(script)
    env = dict(os.environ, PGPASSWORD=USERS[user][0], PGCONNECT_TIMEOUT="10", PGSSLMODE="disable")
    for k in ("PGSERVICE", "PGOPTIONS", "PGHOST", "PGPORT", "PGUSER", "PGDATABASE"):
        env.pop(k, None)
    argv = ["pgbench", "-n", "-h", "127.0.0.1", "-p", str(proxy.port), "-U", user, *args,
            "-f", str(path), "app"]
    try:
        return subprocess.run(argv, capture_output=True, text=True, timeout=timeout, env=env,
                              stdin=subprocess.DEVNULL)
    except subprocess.TimeoutExpired as e:
        pytest.fail(f"pgbench as {user} hung: {' '.join(argv)}\n{e.stdout}\n{e.stderr}", pytrace=False)


def own_range(world, user):
    ids = [c["id"] for c in world.customers_of(tenant_of(user))]
    assert ids == list(range(ids[0], ids[-1] + 1)), "the sample data's ids are not contiguous"
    return ids[0], ids[-1]


def processed(out: str) -> int:
    m = re.search(r"number of transactions actually processed: (\d+)", out)
    return int(m.group(1)) if m else -1


def assert_clean_run(p, user, what):
    out = p.stdout + p.stderr
    assert p.returncode == 0, f"pgbench as {user}, {what}: exit {p.returncode}\n{out}"
    assert "aborted" not in out, f"pgbench as {user}, {what}: a client aborted\n{out}"
    assert re.search(r"number of failed transactions: 0 \(", out), f"pgbench as {user}, {what}:\n{out}"


@pytest.mark.parametrize("mode", MODES)
@pytest.mark.parametrize("user", ["alice", "bob"])
def test_every_transaction_sees_only_its_tenant(proxy, world, tmp_path, mode, user):
    first, last = own_range(world, user)
    p = pgbench(proxy, user, tmp_path, CHECK_SCRIPT, "-M", mode, "-c", "4", "-j", "2", "-T", "2",
                "-D", f"first={first}", "-D", f"last={last}")
    assert_clean_run(p, user, f"-M {mode} isolation check script")
    assert processed(p.stdout) > 20, f"pgbench as {user}, -M {mode}: too few transactions\n{p.stdout}"


def test_the_check_script_can_fail(proxy, world, tmp_path):
    """The script's checks are live: claim the other tenant's ids are ours and the run fails."""
    first, last = own_range(world, "bob")  # bob's ids, run as alice
    p = pgbench(proxy, "alice", tmp_path, CHECK_SCRIPT, "-M", "prepared", "-c", "1", "-t", "50",
                "-D", f"first={first}", "-D", f"last={last}")
    assert p.returncode != 0 and "aborted" in p.stdout + p.stderr, (
        f"the check script did not notice wrong counts:\n{p.stdout}\n{p.stderr}")


@pytest.mark.parametrize("mode", ["extended", "prepared"])
def test_pipeline_mode(proxy, tmp_path, mode):
    p = pgbench(proxy, "alice", tmp_path, PIPELINE_SCRIPT, "-M", mode, "-c", "4", "-j", "2", "-T", "2")
    assert_clean_run(p, "alice", f"-M {mode} pipeline script")
    assert processed(p.stdout) > 20, p.stdout


@pytest.mark.parametrize("mode", MODES)
@pytest.mark.parametrize("user", ["alice", "bob"])
def test_what_a_script_can_capture(proxy, world, tmp_path, mode, user):
    tenant = tenant_of(user)
    p = pgbench(proxy, user, tmp_path, PEEK_SCRIPT, "-M", mode, "-c", "1", "-t", "1",
)
    assert_clean_run(p, user, f"-M {mode} peek script")
    out = p.stdout + p.stderr
    seen = [echoed(out, f"c{i}") for i in range(1, 7)]
    orders = [echoed(out, f"o{i}") for i in range(1, 7)]
    assert None not in seen + orders, f"pgbench as {user}: an echo line is missing\n{out}"
    own = {c["id"]: c for c in world.customers_of(tenant)}
    want = [f"{i}|{tenant}|{own[i]['name']}|{mask_email(own[i]['email']) or '-'}|"
            f"{mask_phone(own[i]['phone'])}|{mask_ssn(own[i]['ssn'])}" if i in own else "none"
            for i in range(1, 7)]
    assert seen == want, f"pgbench as {user}, -M {mode}: script captured customers {seen}, want {want}"
    own_orders = {o["id"]: o for o in world.orders_of(tenant)}
    want_orders = [f"{i}|{own_orders[i]['customer_id']}|{own_orders[i]['amount']}" if i in own_orders
                   else "none" for i in range(1, 7)]
    assert orders == want_orders, f"pgbench as {user}, -M {mode}: orders {orders}, want {want_orders}"
    assert_text_clean(world, user, f"pgbench -M {mode} peek script", "\n".join([out, *seen, *orders]),
                      typed=PEEK_SCRIPT)


COUNT_SCRIPT = r"""SELECT count(*) AS n, count(DISTINCT tenant_id) AS t,
       encode(convert_to(coalesce(string_agg(name || '|' || ssn, ',' ORDER BY id), 'none'), 'UTF8'),
              'hex') AS seen
  FROM customers WHERE id = :id \gset
\shell echo N= :n
\shell echo T= :t
\shell echo SEEN= :seen
"""


@pytest.mark.parametrize("injected", ["0 OR true", "0 OR tenant_id <> tenant_id OR 1 = 1",
                                      "(SELECT max(id) FROM customers)"])
def test_variables_pasted_into_simple_sql_stay_scoped(proxy, world, tmp_path, injected):
    """In -M simple pgbench pastes -D values into the SQL text: a value that rewrites the
    predicate still only reaches the tenant's own rows, masked."""
    p = pgbench(proxy, "alice", tmp_path, COUNT_SCRIPT, "-M", "simple", "-c", "1", "-t", "1",
                "-D", f"id={injected}")
    out = p.stdout + p.stderr
    assert_clean_run(p, "alice", f"simple mode with id={injected!r}")
    n, t = re.search(r"^N= (\d+)$", out, re.M), re.search(r"^T= (\d+)$", out, re.M)
    seen = echoed(out, "SEEN")
    assert n and t and seen is not None, out
    mine = world.customers_of("acme")
    assert int(t.group(1)) <= 1, f"id={injected!r}: rows of {t.group(1)} tenants\n{out}"
    for entry in seen.split(","):
        if entry != "none":
            name, ssn = entry.split("|")
            assert (name, ssn) in {(c["name"], mask_ssn(c["ssn"])) for c in mine}, (
                f"pgbench as alice with id={injected!r}: captured {entry!r}\n{out}")
    assert int(n.group(1)) <= len(mine)
    assert_text_clean(world, "alice", f"pgbench with id={injected!r}", f"{out}\n{seen}",
                      typed=COUNT_SCRIPT + injected)


@pytest.mark.parametrize("injected", [
    "0 UNION ALL SELECT 1, 1, payload FROM internal_audit",
    "0; SELECT payload FROM internal_audit",
    "0 OR tenant_id = 'globex'",
    "0 AND notes IS NOT NULL",
])
def test_variables_that_escape_are_refused(proxy, world, tmp_path, injected):
    p = pgbench(proxy, "alice", tmp_path, COUNT_SCRIPT, "-M", "simple", "-c", "1", "-t", "1",
                "-D", f"id={injected}")
    out = p.stdout + p.stderr
    assert p.returncode != 0 and "aborted" in out, (
        f"pgbench as alice with id={injected!r}: the injected statement ran\n{out}")
    assert "ERROR" in out and ("tenantwall" in out or "does not exist" in out or "cross-tenant" in out), out
    assert "N=" not in out, f"id={injected!r}: the script captured a result\n{out}"
    assert "do not leak" not in out
    assert_text_clean(world, "alice", f"pgbench with id={injected!r}", out, typed=COUNT_SCRIPT + injected)
