"""pgJDBC (Debian's driver) through the proxy: PreparedStatement across the switch to a named
server-side statement, a refusal then reuse, and DatabaseMetaData showing only what the policy
lets the principal see."""
import subprocess
from pathlib import Path

import pytest

HERE = Path(__file__).resolve().parent
DRIVER = "/usr/share/java/postgresql.jar"


@pytest.fixture(scope="module")
def jdbc_classes(tmp_path_factory):
    out = tmp_path_factory.mktemp("jdbc")
    subprocess.run(["javac", "-d", str(out), str(HERE / "clients/JdbcClient.java")], check=True,
                   capture_output=True, timeout=120)
    return out


def run_jdbc(classes, proxy, user, password):
    p = subprocess.run(["java", "-cp", f"{classes}:{DRIVER}", "JdbcClient", str(proxy.port), user,
                        password], capture_output=True, text=True, timeout=120)
    assert p.returncode == 0, p.stdout + p.stderr
    return dict(line.split("=", 1) for line in p.stdout.splitlines() if "=" in line)


def test_jdbc_as_alice(jdbc_classes, proxy):
    seen = run_jdbc(jdbc_classes, proxy, "alice", "alice-secret")
    want = ("1|acme|Alice Anders|***-**-6789;2|acme|Arthur Abbott|***-**-7890;"
            "3|acme|Amy Adams|***-**-8901")
    for i in range(6):  # rounds 5+ run as a named server-side prepared statement
        assert seen[f"rows{i}"] == want, f"as alice via pgJDBC, round {i}: {seen[f'rows{i}']}"
    assert seen["refusal"] == "42501"
    assert seen["orders"] == "3"
    assert seen["tables"] == "countries,customers,orders,tenants", seen["tables"]
    assert seen["columns"] == "id,tenant_id,name,email,phone,ssn", seen["columns"]  # no notes


def test_jdbc_as_bob(jdbc_classes, proxy):
    seen = run_jdbc(jdbc_classes, proxy, "bob", "bob-secret")
    assert seen["rows5"] == "4|globex|Gina Grant|***-**-9012;5|globex|Gus Gold|***-**-0123", seen
    assert "internal_audit" not in seen["tables"]
