"""pgbench through the proxy in all three query modes with a tenant-scoped script: no failed
transaction, and what the script can read stays inside the tenant, masked."""
import os
import subprocess

import pytest


SCRIPT = """\\set id random(1, 5)
SELECT name, ssn FROM customers WHERE id = :id;
SELECT count(*) FROM orders o JOIN customers c ON c.id = o.customer_id WHERE c.id = :id;
"""


@pytest.mark.parametrize("mode", ["simple", "extended", "prepared"])
def test_pgbench_modes(proxy, tmp_path, mode):
    script = tmp_path / "tenant.sql"
    script.write_text(SCRIPT)
    env = dict(os.environ, PGPASSWORD="alice-secret")
    p = subprocess.run(["pgbench", "-n", "-h", "127.0.0.1", "-p", str(proxy.port), "-U", "alice",
                        "-M", mode, "-c", "4", "-j", "2", "-T", "2", "-f", str(script), "app"],
                       capture_output=True, text=True, timeout=60, env=env)
    assert p.returncode == 0, p.stdout + p.stderr
    assert "number of failed transactions: 0" in p.stdout, p.stdout
    processed = next(int(line.split(":")[1].split("/")[0])
                     for line in p.stdout.splitlines() if "transactions actually processed" in line)
    assert processed > 50, p.stdout


def test_pgbench_script_sees_only_its_tenant(proxy, tmp_path):
    # \gset stores the row; \shell echo shows what a script could exfiltrate: only masked acme data.
    script = tmp_path / "peek.sql"
    script.write_text("SELECT string_agg(name || ':' || ssn, ',' ORDER BY id) AS seen FROM customers \\gset\n"
                      "\\shell echo SEEN= :seen\n")
    env = dict(os.environ, PGPASSWORD="alice-secret")
    p = subprocess.run(["pgbench", "-n", "-h", "127.0.0.1", "-p", str(proxy.port), "-U", "alice",
                        "-M", "extended", "-t", "1", "-f", str(script), "app"],
                       capture_output=True, text=True, timeout=60, env=env)
    assert p.returncode == 0, p.stdout + p.stderr
    seen = next(line for line in (p.stdout + p.stderr).splitlines() if line.startswith("SEEN="))
    assert seen == "SEEN= Alice Anders:***-**-6789,Arthur Abbott:***-**-7890,Amy Adams:***-**-8901", seen
