"""node-postgres through the proxy, for every policy user: parameterised queries, one named
prepared statement reused across ids and rounds, refusals (relation, cross-tenant literal, named
statement, hidden column) with the connection still usable, an aborted transaction and a
savepoint, binary results, queued queries and a pool. clients/node_pg_session.js records what the
driver saw; every row is judged here against the database itself (isolation and masking), every
error message is checked for other tenants' data. test_clients_node.py is the short tour."""
import json
import subprocess
from decimal import Decimal
from pathlib import Path

import pytest

from checks import assert_no_leak, assert_text_clean, mask_email, mask_phone, mask_ssn, tenant_of
from harness import USERS

HERE = Path(__file__).resolve().parent
SCRIPT = HERE / "clients" / "node_pg_session.js"
CUSTOMER_COLUMNS = ["id", "tenant_id", "name", "email", "phone", "ssn"]


def run_node(proxy, user: str) -> dict:
    argv = ["node", str(SCRIPT), str(proxy.port), user, USERS[user][0]]
    try:
        p = subprocess.run(argv, capture_output=True, text=True, timeout=90, cwd=HERE,
                           stdin=subprocess.DEVNULL)
    except subprocess.TimeoutExpired as e:
        pytest.fail(f"node-postgres as {user} hung (90 s):\n{e.stdout}\n{e.stderr}", pytrace=False)
    assert p.returncode == 0, f"node-postgres as {user} failed ({p.returncode}):\n{p.stdout}\n{p.stderr}"
    return json.loads(p.stdout.strip().splitlines()[-1])


def masked(world, tenant: str, ids=None) -> list[list]:
    return [[c["id"], c["tenant_id"], c["name"], mask_email(c["email"]), mask_phone(c["phone"]),
             mask_ssn(c["ssn"])] for c in world.customers_of(tenant) if ids is None or c["id"] in ids]


def code(result) -> str | None:
    return result.get("error", {}).get("code") if isinstance(result, dict) else None


def rows_of(user: str, name: str, result) -> list:
    assert isinstance(result, dict) and "error" not in result, (
        f"as {user} via node-postgres: step {name!r} failed: {result}")
    return result["rows"]


def walk(value, path=""):
    """Every (path, result) in the JSON, so each rows/error object can be checked for leaks."""
    if isinstance(value, dict):
        if "rows" in value or "error" in value:
            yield path, value
        else:
            for k, v in value.items():
                yield from walk(v, f"{path}.{k}")
    elif isinstance(value, list):
        for i, v in enumerate(value):
            yield from walk(v, f"{path}[{i}]")


@pytest.fixture(scope="module")
def typed_by_client() -> str:
    return SCRIPT.read_text()


@pytest.mark.parametrize("user", ["alice", "carol", "bob"])
def test_node_postgres_session(proxy, pg, world, typed_by_client, user):
    tenant = tenant_of(user)
    own = {c["id"] for c in world.customers_of(tenant)}
    seen = run_node(proxy, user)

    # Nothing anywhere in what the driver saw belongs to another tenant or is raw PII.
    for path, result in walk(seen):
        if "rows" in result:
            columns = result.get("columns") or ["id", "name"]
            assert_no_leak(world, user, f"node step {path}", columns,
                           [tuple(r) for r in result["rows"]])
        if "error" in result:
            assert_text_clean(world, user, f"node step {path} error", json.dumps(result["error"]),
                              typed=typed_by_client)

    assert seen["by_ids"]["columns"] == CUSTOMER_COLUMNS, seen["by_ids"]
    assert rows_of(user, "by_ids", seen["by_ids"]) == masked(world, tenant), (
        f"as {user}: customers WHERE id = ANY($1) with ids 1..6:\n  got:  {seen['by_ids']['rows']}\n"
        f"  want: {masked(world, tenant)}")
    want_g = [[c["id"], c["name"], mask_email(c["email"])] for c in world.customers_of(tenant)
              if c["name"].startswith("G")]
    assert rows_of(user, "by_name_like", seen["by_name_like"]) == want_g, seen["by_name_like"]
    other = seen["other_tenant_param"]
    # node-postgres binds $1 for real: the proxy refuses the Bind of another tenant's id.
    assert code(other) == "42501", (
        f"as {user}: customers WHERE tenant_id = $1 with another tenant's id: {other}")

    join_sql = ("SELECT c.name, c.ssn, o.amount::text AS amount FROM orders o JOIN customers c "
                "ON c.id = o.customer_id WHERE o.amount > %s ORDER BY o.id")
    _, want_join = pg.truth(tenant, join_sql, (0,))
    assert [tuple(r) for r in rows_of(user, "join", seen["join"])] == want_join, seen["join"]
    total = sum(o["amount"] for o in world.orders_of(tenant))
    [[got_total, got_n]] = rows_of(user, "sum", seen["sum"])
    assert (Decimal(got_total), got_n) == (total, len(world.orders_of(tenant))), seen["sum"]

    # The named statement, 2 rounds x ids 1..6, and the same queued all at once.
    for label, results in (("named", seen["named"]), ("queued", seen["queued"])):
        for i, result in enumerate(results):
            cid = i % 6 + 1
            assert rows_of(user, f"{label}[{i}]", result) == masked(world, tenant, {cid}), (
                f"as {user}: named statement tw_node_by_id with id {cid} ({label} #{i}): {result}")

    for step in ("refused_relation", "refused_cross_tenant", "refused_named"):
        assert code(seen[step]) == "42501", f"as {user}: {step}: {seen[step]}"
    assert code(seen["hidden_column"]) in ("42703", "42501"), seen["hidden_column"]
    first_own = 4 if tenant == "globex" else 1
    assert rows_of(user, "after_refusals", seen["after_refusals"]) == masked(world, tenant, {first_own})
    assert rows_of(user, "simple_after_refusals", seen["simple_after_refusals"]) == [[len(own)]]

    assert rows_of(user, "tx_first", seen["tx_first"]) == [[c["name"]] for c in world.customers_of(tenant)]
    assert code(seen["tx_refused"]) == "42501", seen["tx_refused"]
    assert code(seen["tx_aborted"]) == "25P02", (
        f"as {user}: named statement after a refusal in BEGIN: {seen['tx_aborted']}")
    assert code(seen["tx_aborted_simple"]) == "25P02", seen["tx_aborted_simple"]
    assert seen["tx_rollback"] == {"command": "ROLLBACK"}, seen["tx_rollback"]
    assert rows_of(user, "after_rollback", seen["after_rollback"]) == [[len(world.orders_of(tenant))]]

    assert code(seen["sp_refused"]) == "42501", seen["sp_refused"]
    assert seen["sp_rollback"] == {"command": "ROLLBACK"}, seen["sp_rollback"]
    assert rows_of(user, "sp_after", seen["sp_after"]) == [
        [c["id"], mask_ssn(c["ssn"])] for c in world.customers_of(tenant)], seen["sp_after"]

    assert rows_of(user, "binary", seen["binary"]) == [
        [c["id"], c["name"]] for c in world.customers_of(tenant)], seen["binary"]
    assert code(seen["division"]) == "22012", seen["division"]

    for i, result in enumerate(seen["pooled"]):
        assert rows_of(user, f"pooled[{i}]", result) == masked(world, tenant), (
            f"as {user}: pooled connection #{i}: {result}")
