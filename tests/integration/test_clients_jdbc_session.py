"""pgJDBC (Debian's driver) through the proxy, for every policy user: a PreparedStatement reused
past the switch to a named server statement and binary transfer, parameters naming another
tenant, refusals and an aborted transaction with the connection still usable, a write batch
pipelined under one Sync, fetchSize (portal row limits), a query timeout (the driver's
CancelRequest with the proxy's key), isValid, and DatabaseMetaData showing only the policy's
tables and visible columns. clients/JdbcSession.java records what the driver saw; the rows are
judged here against the database itself. test_clients_jdbc.py is the short tour."""
import json
import shutil
import subprocess
from pathlib import Path

import pytest

from checks import assert_no_leak, assert_text_clean, mask_email, mask_phone, mask_ssn, tenant_of
from harness import USERS

HERE = Path(__file__).resolve().parent
SOURCE = HERE / "clients" / "JdbcSession.java"
DRIVER = Path("/usr/share/java/postgresql.jar")
CUSTOMER_COLUMNS = ["id", "tenant_id", "name", "email", "phone", "ssn"]
# What the policy (conf/policy.yaml) shows of each table, in order.
VISIBLE = {
    "countries": ["code", "name"],
    "customers": CUSTOMER_COLUMNS,
    "orders": ["id", "tenant_id", "customer_id", "amount", "status", "created_at"],
    "tenants": ["id", "name"],
}


@pytest.fixture(scope="module")
def jdbc_classes(tmp_path_factory):
    if not (shutil.which("javac") and DRIVER.exists()):
        pytest.fail(f"javac or {DRIVER} missing: run scripts/install-deps", pytrace=False)
    out = tmp_path_factory.mktemp("jdbc-session")
    p = subprocess.run(["javac", "-d", str(out), str(SOURCE)], capture_output=True, text=True,
                       timeout=180, stdin=subprocess.DEVNULL)
    assert p.returncode == 0, f"javac {SOURCE.name} failed:\n{p.stdout}\n{p.stderr}"
    return out


def run_jdbc(classes, proxy, user: str) -> dict:
    argv = ["java", "-cp", f"{classes}:{DRIVER}", "JdbcSession", str(proxy.port), user, USERS[user][0]]
    try:
        p = subprocess.run(argv, capture_output=True, text=True, timeout=180, stdin=subprocess.DEVNULL)
    except subprocess.TimeoutExpired as e:
        pytest.fail(f"pgJDBC as {user} hung (180 s):\n{e.stdout}\n{e.stderr}", pytrace=False)
    assert p.returncode == 0, f"pgJDBC as {user} failed ({p.returncode}):\n{p.stdout}\n{p.stderr}"
    return json.loads(p.stdout.strip().splitlines()[-1])


def masked(world, tenant: str, ids=None) -> list[list]:
    return [[c["id"], c["tenant_id"], c["name"], mask_email(c["email"]), mask_phone(c["phone"]),
             mask_ssn(c["ssn"])] for c in world.customers_of(tenant) if ids is None or c["id"] in ids]


def code(result) -> str | None:
    return result.get("error", {}).get("code") if isinstance(result, dict) else None


def rows_of(user: str, name: str, result) -> list:
    assert isinstance(result, dict) and "error" not in result, (
        f"as {user} via pgJDBC: step {name!r} failed: {json.dumps(result)[:2000]}")
    return result["rows"]


def walk(value, path=""):
    if isinstance(value, dict):
        if "rows" in value or "error" in value:
            yield path, value
        else:
            for k, v in value.items():
                yield from walk(v, f"{path}.{k}")
    elif isinstance(value, list):
        for i, v in enumerate(value):
            yield from walk(v, f"{path}[{i}]")


CUSTOMERS_RAW = "SELECT id, tenant_id, name, email, phone, ssn, notes FROM public.customers ORDER BY id"


@pytest.fixture(scope="module")
def sessions(jdbc_classes, _proxy_holder, pg):
    """One pgJDBC run per user (each takes a few seconds: the query timeout waits 2 s), with the
    customers table read directly before and after."""
    before = pg.query(CUSTOMERS_RAW)
    seen = {user: run_jdbc(jdbc_classes, _proxy_holder["proxy"], user) for user in ("alice", "bob")}
    seen["customers_before"], seen["customers_after"] = before, pg.query(CUSTOMERS_RAW)
    return seen


@pytest.fixture(params=["alice", "bob"])
def user(request):
    return request.param


def test_nothing_leaks_anywhere(proxy, world, sessions, user):
    typed = SOURCE.read_text()
    for path, result in walk(sessions[user]):
        if "rows" in result:
            assert_no_leak(world, user, f"pgJDBC step {path}", result["columns"],
                           [tuple(r) for r in result["rows"]])
        if "error" in result:
            assert_text_clean(world, user, f"pgJDBC step {path} error", json.dumps(result["error"]),
                              typed=typed)


def test_prepared_statement_reused_past_the_named_switch(proxy, world, sessions, user):
    seen, tenant = sessions[user], tenant_of(user)
    assert seen["valid"] is True, "Connection.isValid (an empty query) returned false"
    assert len(seen["by_id"]) == 18
    for i, result in enumerate(seen["by_id"]):
        cid = i % 6 + 1
        assert rows_of(user, f"by_id[{i}]", result) == masked(world, tenant, {cid}), (
            f"as {user}: {result.get('columns')} WHERE id = ? with id {cid}, execution {i + 1} "
            f"(named server statement from the 5th): {result}")
        assert result["columns"] == CUSTOMER_COLUMNS
        assert result["types"][3:] == ["text", "text", "text"], f"masked columns' types: {result['types']}"
    assert rows_of(user, "range", seen["range"]) == masked(world, tenant)
    other = seen["other_tenant_param"]
    assert code(other) == "42501" or other.get("rows") == [], (
        f"as {user}: customers WHERE tenant_id = ? with another tenant's id: {other}")


def test_join_and_reference_table(proxy, pg, world, sessions, user):
    seen, tenant = sessions[user], tenant_of(user)
    _, want = pg.truth(tenant, "SELECT c.name, c.email, o.amount::text, o.status FROM orders o "
                               "JOIN customers c ON c.id = o.customer_id WHERE o.amount >= 0 ORDER BY o.id")
    assert [tuple(r) for r in rows_of(user, "join", seen["join"])] == want, seen["join"]
    countries = pg.query("SELECT code, name FROM public.countries ORDER BY code")
    assert [tuple(r) for r in rows_of(user, "countries", seen["countries"])] == countries


def test_refusals_and_aborted_transaction(proxy, world, sessions, user):
    seen, tenant = sessions[user], tenant_of(user)
    for step in ("refused_relation", "refused_cross_tenant", "refused_prepared", "tx_refused"):
        assert code(seen[step]) == "42501", f"as {user}: {step}: {seen[step]}"
    assert rows_of(user, "after_refusals", seen["after_refusals"]) == [[len(world.customers_of(tenant))]]
    assert code(seen["tx_aborted"]) == "25P02", (
        f"as {user}: query after a refusal in a transaction: {seen['tx_aborted']}")
    assert rows_of(user, "tx_after_rollback", seen["tx_after_rollback"]) == [
        [c["id"], mask_ssn(c["ssn"])] for c in world.customers_of(tenant)]
    assert rows_of(user, "fetch_size", seen["fetch_size"]) == masked(world, tenant), (
        f"as {user}: fetchSize 1 (Execute with a row limit): {seen['fetch_size']}")


def test_write_batches(proxy, pg, world, sessions, user):
    seen, tenant = sessions[user], tenant_of(user)
    own = {c["id"] for c in world.customers_of(tenant)}
    want = [1 if cid in own else 0 for cid in range(1, 6)]
    assert seen["batch"] == {"update_counts": want}, (
        f"as {user}: batch of UPDATE customers SET name = name WHERE id = 1..5: {seen['batch']}, "
        f"want row counts {want}")
    assert code(seen["batch_refused"]) == "42501", (
        f"as {user}: batch with a refused UPDATE: {seen['batch_refused']}")
    assert rows_of(user, "after_batches", seen["after_batches"]) == [[len(world.orders_of(tenant))]]
    # The batches rewrote names with themselves: the database must be exactly as it was.
    assert sessions["customers_after"] == sessions["customers_before"], (
        f"the pgJDBC write batches changed customers:\n  before: {sessions['customers_before']}\n"
        f"  after:  {sessions['customers_after']}")


def test_query_timeout_cancels_through_the_proxy(proxy, sessions, world, user):
    seen, tenant = sessions[user], tenant_of(user)
    assert code(seen["query_timeout"]) == "57014", (
        f"as {user}: Statement.setQueryTimeout(2) on SELECT count(*) FROM generate_series(1, 200000000): "
        f"{seen['query_timeout']}")
    assert rows_of(user, "after_timeout", seen["after_timeout"]) == [[len(world.customers_of(tenant))]]


def test_database_metadata_shows_only_the_policy(proxy, world, sessions, user):
    seen, tenant = sessions[user], tenant_of(user)
    tables = rows_of(user, "tables", seen["tables"])
    assert sorted(map(tuple, tables)) == [("public", t, "TABLE") for t in sorted(VISIBLE)], (
        f"as {user}: getTables(TABLE, VIEW) = {tables}")
    any_type = rows_of(user, "tables_public_any_type", seen["tables_public_any_type"])
    names = {r[0] for r in any_type}
    assert set(VISIBLE) <= names, f"as {user}: getTables(public, any type) = {any_type}"
    assert not [n for n in names if "internal" in n or "audit" in n], (
        f"as {user}: getTables(public, any type) shows unlisted relations: {any_type}")
    assert {r[1] for r in any_type if r[0] not in VISIBLE} <= {"INDEX", "SEQUENCE"}, any_type
    columns = rows_of(user, "columns_customers", seen["columns_customers"])
    assert [r[0] for r in columns] == CUSTOMER_COLUMNS, (
        f"as {user}: getColumns(customers) = {columns} (hidden column notes must be absent)")
    assert [r[1] for r in columns if r[0] in ("email", "phone", "ssn")] == ["text"] * 3, columns
    everywhere = rows_of(user, "columns_everywhere", seen["columns_everywhere"])
    got = {}
    for table, column in everywhere:
        got.setdefault(table, []).append(column)
    assert got == VISIBLE, f"as {user}: getColumns(public, %, %) = {got}, want {VISIBLE}"
    for step in ("columns_internal_audit", "columns_named_notes"):
        assert rows_of(user, step, seen[step]) == [], f"as {user}: {step}: {seen[step]}"
    assert rows_of(user, "primary_keys", seen["primary_keys"]) == [["customers", "id"]], seen["primary_keys"]
    assert rows_of(user, "after_metadata", seen["after_metadata"]) == [
        [c["name"]] for c in world.customers_of(tenant)]
