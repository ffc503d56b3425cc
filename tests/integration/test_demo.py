"""The README's demo keeps working: deploy/demo/run --check runs the steps it tells people to
type (two tenants' logins, masks, a cross-tenant refusal, an unknown table) and checks them."""
import subprocess
from pathlib import Path

ROOT = Path(__file__).resolve().parents[2]


def test_demo_check():
    p = subprocess.run([str(ROOT / "deploy/demo/run"), "--check"], capture_output=True, text=True,
                       timeout=300, stdin=subprocess.DEVNULL)
    out = p.stdout + p.stderr
    assert p.returncode == 0, out
    assert "demo check: OK" in out
    assert "***-**-6789" in out and "123-45-6789" not in out, out  # masked, never raw
    assert "Gina Grant" in out and "cross-tenant reference" in out, out
