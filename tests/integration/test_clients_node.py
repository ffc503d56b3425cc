"""node-postgres (the extended protocol with named prepared statements) through the proxy."""
import json
import subprocess
from pathlib import Path

HERE = Path(__file__).resolve().parent


def run_node(proxy, user, password):
    p = subprocess.run(["node", str(HERE / "clients/node_client.js"), str(proxy.port), user, password],
                       capture_output=True, text=True, timeout=60, cwd=HERE)
    assert p.returncode == 0, p.stdout + p.stderr
    return json.loads(p.stdout.strip().splitlines()[-1])


def test_node_postgres_as_alice(proxy):
    seen = run_node(proxy, "alice", "alice-secret")
    rows = seen["customers"]
    assert [r["id"] for r in rows] == [1, 2, 3], f"as alice via node-pg: {rows}"
    assert {r["tenant_id"] for r in rows} == {"acme"}, rows
    assert rows[0]["ssn"] == "***-**-6789" and rows[0]["email"] == "a***@acme.example", rows[0]
    assert seen["over50"] == 3 and seen["over200"] == 1, seen  # acme: 100, 250.50, 75.25
    assert seen["refusal"] == "42501", seen
    assert seen["after_refusal"] == "alive"
    assert seen["in_tx"] == "42501" and seen["aborted"] == "25P02", seen
    assert seen["binary_int"] == 1, seen


def test_node_postgres_as_bob(proxy):
    seen = run_node(proxy, "bob", "bob-secret")
    assert [r["id"] for r in seen["customers"]] == [4, 5], seen["customers"]
    assert seen["over50"] == 3 and seen["over200"] == 2, seen  # globex: 999.99, 500, 120
