#!/usr/bin/python3
"""Starts a throwaway PostgreSQL 15 and the real tenantwall binary, for the integration tests and the demo.

Library use (conftest.py): Postgres().start(), Proxy(pg).start(), then the client helpers
(Proxy.connect, Proxy.psql, Postgres.superuser, Postgres.truth) and stop() on both.
Command-line use (deploy/demo/run): `harness.py demo [--port 6432] [--check]`.

Run it with Debian's /usr/bin/python3 (python3-psycopg2). PostgreSQL refuses to run as root, so
as root every PostgreSQL binary runs as the `postgres` OS user in a temp directory it owns.
"""
from __future__ import annotations

import argparse
import atexit
import json
import os
import re
import secrets
import shutil
import signal
import socket
import subprocess
import sys
import tempfile
import threading
import time
from dataclasses import dataclass, field
from pathlib import Path

import psycopg2
import psycopg2.extensions

REPO_ROOT = Path(__file__).resolve().parents[2]
PG_BIN = Path(os.environ.get("TENANTWALL_PG_BIN", "/usr/lib/postgresql/15/bin"))
SCHEMA_SQL = REPO_ROOT / "deploy" / "demo" / "schema.sql"
DEFAULT_POLICY = REPO_ROOT / "conf" / "policy.yaml"
PSQL = os.environ.get("TENANTWALL_PSQL", shutil.which("psql") or "/usr/bin/psql")
LISTENING_RE = re.compile(r"listening on ([0-9.]+):(\d+)")
PROXY_START_TIMEOUT = 20.0

# The policy users of conf/policy.yaml: name -> (password, tenant).
USERS = {
    "alice": ("alice-secret", "acme"),
    "carol": ("carol-secret", "acme"),
    "bob": ("bob-secret", "globex"),
}
TENANTS = ("acme", "globex")
SERVICE_ROLE = "tenantwall_service"
# The proxy's own connections (schema facts, PII scan, schema checks) name themselves
# "tenantwall ..."; tests counting the connections that serve clients leave them out.
NOT_PROXY_SERVICE = "application_name NOT LIKE 'tenantwall %%'"
MD5_ROLE = "tenantwall_md5"


class HarnessError(RuntimeError):
    """Something in the test environment (not the proxy's answers) went wrong."""


# Everything started here, stopped at exit even if a caller forgot (Ctrl-C, crash, failed test).
_live: list = []


def _stop_all() -> None:
    for thing in reversed(list(_live)):
        try:
            thing.stop()
        except Exception as e:  # noqa: BLE001 - best effort at exit
            print(f"harness: cleanup of {thing!r} failed: {e}", file=sys.stderr)


atexit.register(_stop_all)


def free_port() -> int:
    """A TCP port on 127.0.0.1 that was free a moment ago (bind to port 0)."""
    with socket.socket(socket.AF_INET, socket.SOCK_STREAM) as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


def port_is_free(port: int) -> bool:
    with socket.socket(socket.AF_INET, socket.SOCK_STREAM) as s:
        try:
            s.bind(("127.0.0.1", port))
        except OSError:
            return False
        return True


def build_dir() -> Path:
    return Path(os.environ.get("TENANTWALL_BUILD_DIR", REPO_ROOT / "build")).resolve()


def proxy_binary() -> Path:
    return build_dir() / "proxy" / "tenantwall"


def _as_postgres(argv: list[str]) -> list[str]:
    """PostgreSQL refuses to run as root: run its binaries as the postgres OS user then."""
    if os.geteuid() == 0:
        return ["runuser", "-u", "postgres", "--", *argv]
    return argv


def _run(argv: list[str], timeout: float = 120, **kw) -> subprocess.CompletedProcess:
    p = subprocess.run(argv, capture_output=True, text=True, timeout=timeout,
                       stdin=subprocess.DEVNULL, **kw)
    if p.returncode != 0:
        raise HarnessError(f"{' '.join(argv)} failed with {p.returncode}:\n{p.stdout}\n{p.stderr}")
    return p


def _give_to_postgres(path: Path) -> None:
    if os.geteuid() == 0:
        shutil.chown(path, "postgres", "postgres")


# ---------------------------------------------------------------------------------------------
# PostgreSQL


# Reference views for the tenant oracle: what each tenant should see, written independently of
# the proxy's rewriter. Query text run with search_path set to tenant_<id> in database app_truth
# gives the exact rows the proxy must return for the same text.
_ORACLE_VIEWS = """
CREATE SCHEMA tenant_{t};
CREATE VIEW tenant_{t}.tenants AS SELECT id, name FROM public.tenants WHERE id = '{t}';
CREATE VIEW tenant_{t}.customers AS
  SELECT id, tenant_id, name,
         left(email, 1) || '***@' || split_part(email, '@', 2) AS email,
         '***-***-' || right(phone, 4) AS phone,
         '***-**-' || right(ssn, 4) AS ssn
    FROM public.customers WHERE tenant_id = '{t}';
CREATE VIEW tenant_{t}.orders AS
  SELECT id, tenant_id, customer_id, amount, status, created_at
    FROM public.orders WHERE tenant_id = '{t}';
CREATE VIEW tenant_{t}.countries AS SELECT code, name FROM public.countries;
"""


class Postgres:
    """A throwaway PostgreSQL 15 cluster on 127.0.0.1:<free port> with the demo schema in `app`."""

    def __init__(self, *, quiet: bool = True, ssl_files: tuple[Path, Path] | None = None):
        self.quiet = quiet
        # (certificate, key) PEM files: PostgreSQL then runs with ssl = on and serves them.
        self.ssl_files = ssl_files
        self.tmp: Path | None = None
        self.port: int | None = None
        self.service_password = secrets.token_hex(16)
        self.md5_password = secrets.token_hex(16)
        self._started = False

    def __repr__(self) -> str:
        return f"Postgres(port={self.port}, dir={self.tmp})"

    @property
    def data_dir(self) -> Path:
        return self.tmp / "data"

    @property
    def log_file(self) -> Path:
        return self.tmp / "postgres.log"

    def start(self) -> "Postgres":
        _live.append(self)
        try:
            self._init_cluster()
            self._start_server()
            self._load()
        except BaseException:
            self.stop()
            raise
        return self

    def _init_cluster(self) -> None:
        self.tmp = Path(tempfile.mkdtemp(prefix="tenantwall-pg-"))
        os.chmod(self.tmp, 0o755)  # the postgres user must be able to traverse it
        _give_to_postgres(self.tmp)
        _run(_as_postgres([str(PG_BIN / "initdb"), "-D", str(self.data_dir), "-U", "postgres",
                           "-A", "trust", "-E", "UTF8", "--locale=C", "--no-sync"]), timeout=180)
        hba = self.data_dir / "pg_hba.conf"
        hba.write_text(
            "# written by tests/integration/harness.py\n"
            "local all postgres trust\n"
            f"host all {MD5_ROLE} 127.0.0.1/32 md5\n"
            "host all all 127.0.0.1/32 scram-sha-256\n")
        with open(self.data_dir / "postgresql.conf", "a") as f:
            f.write(
                "\n# tenantwall integration tests\n"
                "listen_addresses = '127.0.0.1'\n"
                f"unix_socket_directories = '{self.tmp}'\n"
                "fsync = off\nsynchronous_commit = off\nfull_page_writes = off\n"
                "password_encryption = 'scram-sha-256'\n"
                "log_statement = 'all'\n"
                "log_line_prefix = '%m [%p] %u@%d '\n"
                "max_connections = 200\n")
        _give_to_postgres(hba)
        if self.ssl_files is not None:
            self._install_ssl_files()

    def _install_ssl_files(self) -> None:
        """Copies the server certificate and key into the data directory, owned by postgres with
        the key at mode 0600 (PostgreSQL refuses a key others can read), and turns ssl on."""
        cert, key = self.ssl_files
        for source, name, mode in ((cert, "server.crt", 0o644), (key, "server.key", 0o600)):
            target = self.data_dir / name
            shutil.copyfile(source, target)
            os.chmod(target, mode)
            _give_to_postgres(target)
        with open(self.data_dir / "postgresql.conf", "a") as f:
            f.write("ssl = on\nssl_cert_file = 'server.crt'\nssl_key_file = 'server.key'\n")

    def _start_server(self) -> None:
        last = ""
        for _ in range(5):  # another process may take the port between probe and bind
            self.port = free_port()
            p = subprocess.run(
                _as_postgres([str(PG_BIN / "pg_ctl"), "-D", str(self.data_dir), "-l",
                              str(self.log_file), "-w", "-t", "60", "-o", f"-p {self.port}",
                              "start"]),
                capture_output=True, text=True, timeout=90, stdin=subprocess.DEVNULL)
            if p.returncode == 0:
                self._started = True
                return
            last = p.stdout + p.stderr + self.read_log()
            if "already in use" not in last:
                break
        raise HarnessError(f"PostgreSQL did not start:\n{last}")

    def read_log(self) -> str:
        try:
            return self.log_file.read_text(errors="replace")
        except OSError:
            return ""

    def _load(self) -> None:
        with self.superuser("postgres") as c:
            c.cursor().execute("CREATE DATABASE app")
        with self.superuser("app") as c:
            cur = c.cursor()
            cur.execute(SCHEMA_SQL.read_text())
            for role, encryption, password in ((SERVICE_ROLE, "scram-sha-256", self.service_password),
                                               (MD5_ROLE, "md5", self.md5_password)):
                cur.execute(f"SET password_encryption = '{encryption}'")
                cur.execute(f"CREATE ROLE {role} LOGIN NOSUPERUSER PASSWORD %s", (password,))
                cur.execute(f"GRANT USAGE ON SCHEMA public TO {role}")
                cur.execute(f"GRANT SELECT, INSERT, UPDATE, DELETE ON ALL TABLES IN SCHEMA public TO {role}")
                cur.execute(f"GRANT USAGE ON ALL SEQUENCES IN SCHEMA public TO {role}")
            cur.execute("RESET password_encryption")
        with self.superuser("postgres") as c:
            c.cursor().execute("CREATE DATABASE app_truth TEMPLATE app")
        with self.superuser("app_truth") as c:
            for t in TENANTS:
                c.cursor().execute(_ORACLE_VIEWS.format(t=t))

    def stop(self) -> None:
        if self in _live:
            _live.remove(self)
        if self.tmp is None:
            return
        if self._started:
            try:
                subprocess.run(_as_postgres([str(PG_BIN / "pg_ctl"), "-D", str(self.data_dir),
                                             "-m", "immediate", "-w", "-t", "30", "stop"]),
                               capture_output=True, timeout=60, stdin=subprocess.DEVNULL)
            except subprocess.TimeoutExpired:
                self._kill_postmaster()
            self._started = False
        shutil.rmtree(self.tmp, ignore_errors=True)
        self.tmp = None

    def _kill_postmaster(self) -> None:
        try:
            pid = int((self.data_dir / "postmaster.pid").read_text().split()[0])
            os.kill(pid, signal.SIGKILL)
        except (OSError, ValueError, IndexError):
            pass

    # -- direct access, for ground truth ---------------------------------------------------------

    def superuser(self, dbname: str = "app"):
        """An autocommit superuser connection over the unix socket (bypasses the proxy)."""
        c = psycopg2.connect(host=str(self.tmp), port=self.port, dbname=dbname, user="postgres",
                             connect_timeout=10)
        c.autocommit = True
        return _Closing(c)

    def query(self, sql: str, params=None, dbname: str = "app") -> list[tuple]:
        with self.superuser(dbname) as c:
            cur = c.cursor()
            cur.execute(sql, params)
            return cur.fetchall() if cur.description else []

    def truth(self, tenant: str, sql: str, params=None) -> tuple[list[str], list[tuple]]:
        """Column names and rows that `sql` gives when run as tenant `tenant` should see the data."""
        if tenant not in TENANTS:
            raise HarnessError(f"unknown tenant {tenant}")
        with self.superuser("app_truth") as c:
            cur = c.cursor()
            cur.execute(f"SET search_path = tenant_{tenant}")
            cur.execute(sql, params)
            return [d.name for d in cur.description], cur.fetchall()

    def snapshot(self) -> dict[str, list[tuple]]:
        """All rows of every table, to check that a refused write changed nothing."""
        out = {}
        for table in ("tenants", "customers", "orders", "countries", "internal_audit"):
            out[table] = self.query(f"SELECT * FROM public.{table} ORDER BY 1")
        return out

    def tables(self) -> list[str]:
        return [r[0] for r in self.query(
            "SELECT c.relname FROM pg_class c JOIN pg_namespace n ON n.oid = c.relnamespace "
            "WHERE n.nspname NOT IN ('pg_catalog', 'information_schema', 'pg_toast') "
            "AND c.relkind IN ('r', 'v', 'm', 'p', 'f') ORDER BY 1")]

    def reset_data(self) -> None:
        """Restores the sample rows of schema.sql (after a write leaked through the proxy)."""
        inserts = [s.strip() for s in SCHEMA_SQL.read_text().split(";")
                   if s.strip().upper().startswith("INSERT")]
        with self.superuser("app") as c:
            cur = c.cursor()
            cur.execute("TRUNCATE public.tenants, public.customers, public.orders, public.countries, "
                        "public.internal_audit RESTART IDENTITY CASCADE")
            for s in inserts:
                cur.execute(s)


class _Closing:
    """`with` support that closes a psycopg2 connection (psycopg2's own only ends the transaction)."""

    def __init__(self, conn):
        self.conn = conn

    def __enter__(self):
        return self.conn

    def __exit__(self, *exc):
        self.conn.close()
        return False


# ---------------------------------------------------------------------------------------------
# The proxy


@dataclass
class PsqlResult:
    argv: list[str]
    rc: int
    stdout: str
    stderr: str

    def __str__(self) -> str:
        return f"psql rc={self.rc}\n--- stdout\n{self.stdout}--- stderr\n{self.stderr}"


@dataclass
class Proxy:
    """The real tenantwall binary in front of `pg`, with a config written to its own temp dir."""

    pg: Postgres
    backend_user: str = SERVICE_ROLE
    backend_password: str | None = None  # default: the role's password from pg
    policy: Path = DEFAULT_POLICY
    listen_port: int = 0
    limits: dict = field(default_factory=dict)
    password_via_env: bool = False
    echo: bool = False  # copy the proxy's log lines to our stderr as they come
    extra: str = ""  # more top-level settings, appended to the configuration as they are

    process: subprocess.Popen | None = None
    host: str = "127.0.0.1"
    port: int | None = None
    tmp: Path | None = None
    lines: list[str] = field(default_factory=list)
    OWN_POOL = False  # class attribute, not a field: True where config_text adds a pool section

    def __post_init__(self):
        self._ready = threading.Event()
        self._reader: threading.Thread | None = None

    def __repr__(self) -> str:
        return f"Proxy(port={self.port}, backend_user={self.backend_user})"

    @property
    def output(self) -> str:
        return "".join(self.lines)

    def config_text(self) -> str:
        password = self.backend_password
        if password is None:
            password = self.pg.md5_password if self.backend_user == MD5_ROLE else self.pg.service_password
        q = json.dumps  # a JSON string is a valid YAML scalar
        text = (
            "# written by tests/integration/harness.py\n"
            f"listen:\n  host: 127.0.0.1\n  port: {self.listen_port}\n"
            f"backend:\n  host: 127.0.0.1\n  port: {self.pg.port}\n  database: app\n"
            f"  user: {q(self.backend_user)}\n")
        if not self.password_via_env:
            text += f"  password: {q(password)}\n"
        text += "  connect_timeout_ms: 5000\n"
        text += f"policy: {q(str(Path(self.policy).resolve()))}\n"
        if self.limits:
            text += "limits:\n" + "".join(f"  {k}: {v}\n" for k, v in self.limits.items())
        # scripts/test reruns suites with the backend pool on (TENANTWALL_TEST_POOL, a YAML
        # mapping body); proxies configuring their own pool set OWN_POOL.
        if os.environ.get("TENANTWALL_TEST_POOL") and not self.OWN_POOL:
            text += "pool: {" + os.environ["TENANTWALL_TEST_POOL"] + "}\n"
        # Two event loops whatever the machine (auto gives one on CI's two CPUs), so every suite
        # has sessions dealt to both and pooled backends moving between them.
        if not re.search(r"^io_threads:", self.extra, re.M):
            text += "io_threads: 2\n"
        return text + self.extra

    def start(self) -> "Proxy":
        binary = proxy_binary()
        if not os.access(binary, os.X_OK):
            raise HarnessError(f"proxy binary {binary} not found: build it first "
                               f"(scripts/build, or set TENANTWALL_BUILD_DIR)")
        _live.append(self)
        try:
            self.tmp = Path(tempfile.mkdtemp(prefix="tenantwall-proxy-"))
            config = self.tmp / "tenantwall.yaml"
            config.write_text(self.config_text())
            env = dict(os.environ)
            env.pop("TENANTWALL_BACKEND_PASSWORD", None)
            if self.password_via_env:
                env["TENANTWALL_BACKEND_PASSWORD"] = (
                    self.backend_password or
                    (self.pg.md5_password if self.backend_user == MD5_ROLE else self.pg.service_password))
            self.process = subprocess.Popen(
                [str(binary), "--config", str(config)], stdin=subprocess.DEVNULL,
                stdout=subprocess.PIPE, stderr=subprocess.STDOUT, env=env,
                start_new_session=True)  # Ctrl-C reaches us, and we stop it in order
            self._reader = threading.Thread(target=self._read, daemon=True)
            self._reader.start()
            deadline = time.monotonic() + PROXY_START_TIMEOUT
            while not self._ready.wait(0.05):
                if self.process.poll() is not None:
                    self._reader.join(2)
                    raise HarnessError(f"tenantwall exited with {self.process.returncode} before "
                                       f"listening:\n{self.output}")
                if time.monotonic() > deadline:
                    raise HarnessError(f"tenantwall did not print 'listening on' within "
                                       f"{PROXY_START_TIMEOUT:.0f} s:\n{self.output}")
        except BaseException:
            self.stop()
            raise
        return self

    def _read(self) -> None:
        # Keeps draining the pipe for the proxy's whole life, so its logging never blocks.
        for raw in iter(self.process.stdout.readline, b""):
            line = raw.decode("utf-8", "replace")
            self.lines.append(line)
            if self.echo:
                sys.stderr.write(line)
                sys.stderr.flush()
            if not self._ready.is_set():
                m = LISTENING_RE.search(line)
                if m:
                    self.host, self.port = m.group(1), int(m.group(2))
                    self._ready.set()

    def alive(self) -> bool:
        return self.process is not None and self.process.poll() is None

    def stop(self) -> None:
        if self in _live:
            _live.remove(self)
        if self.process is not None and self.process.poll() is None:
            self.process.terminate()
            try:
                self.process.wait(5)
            except subprocess.TimeoutExpired:
                self.process.kill()
                self.process.wait(5)
        if self._reader is not None:
            self._reader.join(2)
        if self.tmp is not None:
            shutil.rmtree(self.tmp, ignore_errors=True)
            self.tmp = None

    # -- clients --------------------------------------------------------------------------------

    def conninfo(self, user: str = "alice", sslmode: str = "disable") -> str:
        return f"host=127.0.0.1 port={self.port} dbname=app user={user} sslmode={sslmode}"

    def connect(self, user: str = "alice", password: str | None = None, *,
                sslmode: str = "disable", autocommit: bool = True, **kw):
        """A psycopg2 connection through the proxy as a policy user."""
        if password is None:
            password = USERS[user][0]
        conn = psycopg2.connect(host="127.0.0.1", port=self.port, dbname="app", user=user,
                                password=password, sslmode=sslmode, connect_timeout=10, **kw)
        conn.autocommit = autocommit
        return conn

    def psql(self, sql: str | None = None, user: str = "alice", password: str | None = None, *,
             file: str | None = None, sslmode: str = "disable", args: tuple = (),
             timeout: float = 30) -> PsqlResult:
        """Runs psql -X -A -t -v ON_ERROR_STOP=1 through the proxy with -c SQL or -f FILE."""
        if password is None:
            password = USERS.get(user, ("no-such-password",))[0]
        argv = [PSQL, self.conninfo(user, sslmode), "-X", "-A", "-t", "-v", "ON_ERROR_STOP=1", *args]
        if sql is not None:
            argv += ["-c", sql]
        if file is not None:
            argv += ["-f", file]
        env = dict(os.environ, PGPASSWORD=password, PGCONNECT_TIMEOUT="10")
        for k in ("PGSERVICE", "PGSSLMODE", "PGOPTIONS", "PGHOST", "PGPORT", "PGUSER", "PGDATABASE"):
            env.pop(k, None)
        p = subprocess.run(argv, capture_output=True, text=True, timeout=timeout, env=env,
                           stdin=subprocess.DEVNULL)
        return PsqlResult(argv, p.returncode, p.stdout, p.stderr)


# ---------------------------------------------------------------------------------------------
# The demo (deploy/demo/run)


@dataclass
class DemoStep:
    user: str
    sql: str
    refused: bool  # expect ERROR 42501; otherwise rows of the user's tenant


DEMO_STEPS = [
    DemoStep("alice", "SELECT * FROM customers ORDER BY id;", False),
    DemoStep("alice", "SELECT * FROM customers WHERE tenant_id = 'globex';", True),
    DemoStep("alice", "SELECT * FROM internal_audit;", True),
    DemoStep("bob", "SELECT * FROM customers ORDER BY id;", False),
    DemoStep("bob", "SELECT * FROM customers WHERE tenant_id = 'acme';", True),
]


def demo_login(user: str, port: int) -> str:
    return (f'PGPASSWORD={USERS[user][0]} psql '
            f'"host=127.0.0.1 port={port} dbname=app user={user} sslmode=disable"')


def demo_command(step: DemoStep, port: int) -> str:
    # -v VERBOSITY=verbose makes psql print the SQLSTATE of an error (ERROR:  42501: ...).
    return f'{demo_login(step.user, port)} -X -v VERBOSITY=verbose -c "{step.sql}"'


def demo_instructions(port: int) -> str:
    out = ["", "tenantwall demo is running: PostgreSQL 15 with two tenants (acme, globex) behind "
           f"tenantwall on 127.0.0.1:{port}.", "",
           "In another terminal, connect as alice (tenant acme):", "",
           f"  {demo_login('alice', port)}", "", "and type:", ""]
    out += [f"  {s.sql}" + ("   -- refused: ERROR 42501" if s.refused else
                            "   -- only acme's customers; email, phone and ssn masked")
            for s in DEMO_STEPS if s.user == "alice"]
    out += ["", "Then as bob (tenant globex):", "", f"  {demo_login('bob', port)}", ""]
    out += [f"  {s.sql}" + ("   -- refused: ERROR 42501" if s.refused else
                            "   -- only globex's customers, masked")
            for s in DEMO_STEPS if s.user == "bob"]
    out += ["", "Or run each step directly (this is what `deploy/demo/run --check` runs):", ""]
    out += [f"  {demo_command(s, port)}" for s in DEMO_STEPS]
    out += ["", "Press Ctrl-C to stop and remove everything.", ""]
    return "\n".join(out)


def check_demo_step(pg: Postgres, step: DemoStep, rc: int, stdout: str, stderr: str) -> list[str]:
    """Problems with one step's psql output, judged against the database itself."""
    problems = []
    tenant = USERS[step.user][1]
    rows = pg.query("SELECT tenant_id, name, email, phone, ssn, notes FROM public.customers")
    raw = {v for r in rows for v in r[2:] if v}  # raw PII and hidden notes: must never show
    if step.refused:
        if rc == 0:
            problems.append("expected a refusal, psql succeeded")
        if "ERROR:  42501" not in stderr:
            problems.append("expected 'ERROR:  42501' on stderr")
        if stdout.strip():
            problems.append("a refused statement printed rows")
        return problems
    if rc != 0:
        problems.append(f"psql failed with {rc}")
    mine = [r for r in rows if r[0] == tenant]
    others = [r for r in rows if r[0] != tenant]
    for r in mine:
        if r[1] not in stdout:
            problems.append(f"own customer {r[1]!r} missing")
        if r[4] and f"***-**-{r[4][-4:]}" not in stdout:
            problems.append(f"masked ssn of {r[1]!r} missing")
        if r[3] and f"***-***-{r[3][-4:]}" not in stdout:
            problems.append(f"masked phone of {r[1]!r} missing")
        if r[2] and f"{r[2][0]}***@{r[2].split('@', 1)[1]}" not in stdout:
            problems.append(f"masked email of {r[1]!r} missing")
    for r in others:
        if r[1] in stdout:
            problems.append(f"LEAK: other tenant's customer {r[1]!r} shown")
    for other in TENANTS:
        if other != tenant and other in stdout:
            problems.append(f"LEAK: other tenant id {other!r} shown")
    for v in raw:
        if v in stdout:
            problems.append(f"LEAK: raw value {v!r} shown")
    if "notes" in stdout:
        problems.append("hidden column notes shown")
    if f"({len(mine)} rows)" not in stdout:
        problems.append(f"expected '({len(mine)} rows)'")
    return problems


def run_demo_check(pg: Postgres, port: int) -> bool:
    ok = True
    env = dict(os.environ)
    for k in ("PGSERVICE", "PGSSLMODE", "PGOPTIONS", "PGHOST", "PGPORT", "PGUSER", "PGDATABASE"):
        env.pop(k, None)
    env["PGCONNECT_TIMEOUT"] = "10"
    for step in DEMO_STEPS:
        command = demo_command(step, port)
        print(f"$ {command}")
        p = subprocess.run(["bash", "-c", command], capture_output=True, text=True, timeout=60,
                           env=env, stdin=subprocess.DEVNULL)
        sys.stdout.write(p.stdout)
        sys.stdout.write(p.stderr)
        problems = check_demo_step(pg, step, p.returncode, p.stdout, p.stderr)
        for problem in problems:
            print(f"  CHECK FAILED: {problem}")
        print("  ok" if not problems else "")
        ok = ok and not problems
    return ok


def demo(port: int, check: bool) -> int:
    def on_term(*_):
        raise KeyboardInterrupt
    signal.signal(signal.SIGTERM, on_term)
    pg = proxy = None
    try:
        print("starting PostgreSQL 15 ...", flush=True)
        pg = Postgres().start()
        wanted = port if port and port_is_free(port) else 0
        if port and not wanted:
            print(f"port {port} is busy: using a free port instead", flush=True)
        print("starting tenantwall ...", flush=True)
        try:
            proxy = Proxy(pg, listen_port=wanted, echo=not check).start()
        except HarnessError:
            if wanted == 0:
                raise
            proxy = Proxy(pg, listen_port=0, echo=not check).start()
        if check:
            ok = run_demo_check(pg, proxy.port)
            if not proxy.alive():
                print(f"tenantwall died during the check:\n{proxy.output}")
                ok = False
            print("demo check: OK" if ok else "demo check: FAILED")
            if not ok:
                print(f"--- tenantwall log\n{proxy.output}")
            return 0 if ok else 1
        print(demo_instructions(proxy.port), flush=True)
        while proxy.alive():
            time.sleep(0.5)
        print(f"tenantwall exited with {proxy.process.returncode}", file=sys.stderr)
        return 1
    except KeyboardInterrupt:
        print("\nstopping ...", file=sys.stderr)
        return 0 if not check else 130
    except HarnessError as e:
        print(f"demo failed: {e}", file=sys.stderr)
        return 1
    finally:
        signal.signal(signal.SIGINT, signal.SIG_IGN)  # let cleanup finish on a second Ctrl-C
        signal.signal(signal.SIGTERM, signal.SIG_IGN)
        for thing in (proxy, pg):
            if thing is not None:
                thing.stop()


def main(argv: list[str]) -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    sub = parser.add_subparsers(dest="command", required=True)
    d = sub.add_parser("demo", help="start PostgreSQL and tenantwall and wait for Ctrl-C")
    d.add_argument("--port", type=int, default=6432, help="proxy port (0: any free port)")
    d.add_argument("--check", action="store_true",
                   help="run the demo steps unattended, check their output, exit 0/1")
    args = parser.parse_args(argv)
    if args.command == "demo":
        return demo(args.port, args.check)
    return 2


if __name__ == "__main__":
    sys.exit(main(sys.argv[1:]))
