"""A proxy with the admin port, a token, an audit log and optional policy approval, and HTTP and
CLI helpers, for the issue-10 tests (explain, schema slice, reviewed policy changes)."""
from __future__ import annotations

import http.client
import json
import re
import subprocess
import time
from pathlib import Path

import checks
import harness

ADMIN_RE = re.compile(r"admin listening on ([0-9.]+):(\d+)")
TOKEN = "beyond-admin-token-0123456789"


class AdminProxy(harness.Proxy):
    """harness.Proxy plus admin (port 0, TOKEN), audit.jsonl, and approval.approvers_dir."""

    approvers_dir: Path | None = None
    poll_ms: int | None = None
    pool: str | None = None  # the body of a `pool: {...}` mapping, e.g. "mode: session, size: 2"

    @property
    def OWN_POOL(self) -> bool:  # noqa: N802 - harness.Proxy's class attribute, per instance here
        return self.pool is not None

    def config_text(self):
        text = super().config_text()
        if self.pool is not None:
            text += f"pool: {{{self.pool}}}\n"
        if self.poll_ms is not None:
            text += f"policy_poll_ms: {self.poll_ms}\n"
        text += "audit:\n  path: audit.jsonl\n"
        (self.tmp / "admin.token").write_text(TOKEN + "\n")
        text += "admin:\n  listen_host: 127.0.0.1\n  port: 0\n  token_file: admin.token\n"
        if self.approvers_dir is not None:
            text += f"approval:\n  approvers_dir: {json.dumps(str(self.approvers_dir))}\n"
        return text

    @property
    def config_path(self) -> Path:
        return self.tmp / "tenantwall.yaml"

    def admin_port(self) -> int:
        deadline = time.monotonic() + 10
        while time.monotonic() < deadline:
            m = ADMIN_RE.search(self.output)
            if m:
                return int(m.group(2))
            time.sleep(0.05)
        raise harness.HarnessError(f"no 'admin listening on' line:\n{self.output}")

    def request(self, method, path, body=None, token=TOKEN):
        conn = http.client.HTTPConnection("127.0.0.1", self.admin_port(), timeout=10)
        headers = {"Authorization": f"Bearer {token}"} if token else {}
        if body is not None:
            body = json.dumps(body)
            headers["Content-Type"] = "application/json"
        try:
            conn.request(method, path, body=body, headers=headers)
            r = conn.getresponse()
            return r.status, r.read().decode()
        finally:
            conn.close()

    def metrics(self, prefix: str) -> dict[str, float]:
        """The samples of GET /metrics whose series (name and labels) start with prefix."""
        status, body = self.request("GET", "/metrics", token=None)
        assert status == 200, body
        return {line.rsplit(" ", 1)[0]: float(line.rsplit(" ", 1)[1])
                for line in body.splitlines() if line.startswith(prefix)}

    def audit_events(self) -> list[dict]:
        return checks.audit_events(self.tmp / "audit.jsonl")


def start(pg, **kw) -> AdminProxy:
    approvers_dir = kw.pop("approvers_dir", None)
    poll_ms = kw.pop("poll_ms", None)
    pool = kw.pop("pool", None)
    px = AdminProxy(pg, **kw)
    px.approvers_dir = approvers_dir
    px.poll_ms = poll_ms
    px.pool = pool
    return px.start()


def cli(*args, timeout=30) -> subprocess.CompletedProcess:
    """Runs the tenantwall binary with args; text output."""
    return subprocess.run([str(harness.proxy_binary()), *map(str, args)], capture_output=True,
                          text=True, timeout=timeout, stdin=subprocess.DEVNULL)
