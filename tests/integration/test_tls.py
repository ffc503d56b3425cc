"""TLS end to end (issue 7) and client certificates as principals (issue 6), against a real
PostgreSQL 15, the real proxy binary and real clients (psql, psycopg2/libpq, Python's ssl).

A throwaway PKI is made with the openssl CLI: a server CA (the proxy's and PostgreSQL's
certificates), a client CA (client certificates) and an unrelated CA nobody trusts.
Covered: verify-full from psql and libpq with tenant rows still isolated and masked; clients
refusing a wrong host name or an untrusted CA; tls.require (28000, audited); TLS 1.1 and lower
refused, 1.2 and 1.3 accepted, min_version 1.3; client certificates mapped by subject and by
SAN to users (no password), unmapped and foreign certificates refused; certificate files
replaced on disk reach new connections while open ones keep working; TLS to PostgreSQL
(verify-full, verify-ca, require; pg_stat_ssl shows the proxy's connections encrypted; a wrong
CA or name is a clean 08006); malformed TLS does not hurt the proxy.
"""
from __future__ import annotations

import json
import os
import shutil
import signal
import socket
import ssl
import struct
import subprocess
import threading
import time
from dataclasses import dataclass
from pathlib import Path

import psycopg2
import pytest

import harness
import wire
from checks import run, wait_for

SSL_REQUEST_BYTES = struct.pack("!II", 8, wire.SSL_REQUEST)
GSSENC_REQUEST_BYTES = struct.pack("!II", 8, 80877104)
CUSTOMERS_SQL = "SELECT id, tenant_id, name, email, phone, ssn FROM customers ORDER BY id"


# ---------------------------------------------------------------------------------------------
# A throwaway PKI made with the openssl CLI


def _openssl(*args: str, cwd: Path) -> None:
    p = subprocess.run(["openssl", *args], cwd=cwd, capture_output=True, text=True, timeout=60,
                       stdin=subprocess.DEVNULL)
    if p.returncode != 0:
        raise harness.HarnessError(f"openssl {' '.join(args)} failed:\n{p.stdout}\n{p.stderr}")


def make_ca(directory: Path, name: str, cn: str) -> tuple[Path, Path]:
    cert, key = directory / f"{name}.pem", directory / f"{name}.key"
    _openssl("req", "-x509", "-new", "-newkey", "ec", "-pkeyopt", "ec_paramgen_curve:P-256",
             "-nodes", "-keyout", str(key), "-out", str(cert), "-days", "3", "-subj", f"/CN={cn}",
             "-addext", "basicConstraints=critical,CA:TRUE",
             "-addext", "keyUsage=critical,keyCertSign,cRLSign", cwd=directory)
    return cert, key


def make_leaf(directory: Path, name: str, ca: tuple[Path, Path], subject: str, *,
              serial: int, san: str | None = None, usage: str = "serverAuth") -> tuple[Path, Path]:
    """A certificate signed by `ca`; the key file is mode 0600 (libpq insists on it)."""
    cert, key, csr, ext = (directory / f"{name}.pem", directory / f"{name}.key",
                           directory / f"{name}.csr", directory / f"{name}.ext")
    _openssl("req", "-new", "-newkey", "ec", "-pkeyopt", "ec_paramgen_curve:P-256", "-nodes",
             "-keyout", str(key), "-out", str(csr), "-subj", subject, cwd=directory)
    lines = ["basicConstraints=critical,CA:FALSE", "keyUsage=critical,digitalSignature",
             f"extendedKeyUsage={usage}"]
    if san:
        lines.append(f"subjectAltName={san}")
    ext.write_text("\n".join(lines) + "\n")
    _openssl("x509", "-req", "-in", str(csr), "-CA", str(ca[0]), "-CAkey", str(ca[1]),
             "-set_serial", str(serial), "-days", "3", "-extfile", str(ext), "-out", str(cert),
             cwd=directory)
    os.chmod(key, 0o600)
    return cert, key


@dataclass
class Pki:
    dir: Path
    ca: tuple[Path, Path]          # signs the proxy's and PostgreSQL's certificates
    client_ca: tuple[Path, Path]   # signs client certificates (tls.ca_file)
    other_ca: tuple[Path, Path]    # trusted by nobody
    proxy: tuple[Path, Path]       # CN=tenantwall-proxy-1, serial 1001
    proxy2: tuple[Path, Path]      # CN=tenantwall-proxy-2, serial 1002 (the reload)
    postgres: tuple[Path, Path]    # PostgreSQL's server certificate
    alice: tuple[Path, Path]       # CN=alice,O=Acme (mapped by subject)
    dave: tuple[Path, Path]        # SAN email dave@globex.example (mapped by SAN)
    mallory: tuple[Path, Path]     # client CA, mapped to nobody
    fake_alice: tuple[Path, Path]  # CN=alice,O=Acme signed by other_ca
    bob_dns: tuple[Path, Path]     # SAN DNS svc.globex.example (mapped by san_dns, other case)
    bob_uri: tuple[Path, Path]     # SAN URI spiffe://globex.example/sa/bob (mapped by san_uri)
    carol: tuple[Path, Path]       # CN=Smith\, Carol,O=Acme: an escaped comma in the subject
    alice_server: tuple[Path, Path]  # CN=alice,O=Acme from the client CA, but serverAuth only


@pytest.fixture(scope="module")
def pki(tmp_path_factory) -> Pki:
    d = tmp_path_factory.mktemp("pki")
    ca = make_ca(d, "ca", "tenantwall test server CA")
    client_ca = make_ca(d, "client_ca", "tenantwall test client CA")
    other_ca = make_ca(d, "other_ca", "untrusted CA")
    server_san = "DNS:localhost,IP:127.0.0.1"
    return Pki(
        dir=d, ca=ca, client_ca=client_ca, other_ca=other_ca,
        proxy=make_leaf(d, "proxy", ca, "/CN=tenantwall-proxy-1", serial=1001, san=server_san),
        proxy2=make_leaf(d, "proxy2", ca, "/CN=tenantwall-proxy-2", serial=1002, san=server_san),
        postgres=make_leaf(d, "postgres", ca, "/CN=postgres.test", serial=2001, san=server_san),
        alice=make_leaf(d, "alice", client_ca, "/O=Acme/CN=alice", serial=3001,
                        usage="clientAuth"),
        dave=make_leaf(d, "dave", client_ca, "/O=Globex/CN=dave-laptop", serial=3002,
                       san="email:dave@globex.example", usage="clientAuth"),
        mallory=make_leaf(d, "mallory", client_ca, "/O=Acme/CN=mallory", serial=3003,
                          usage="clientAuth"),
        fake_alice=make_leaf(d, "fake_alice", other_ca, "/O=Acme/CN=alice", serial=3004,
                             usage="clientAuth"),
        bob_dns=make_leaf(d, "bob_dns", client_ca, "/O=Globex/CN=svc", serial=3005,
                          san="DNS:svc.globex.example", usage="clientAuth"),
        bob_uri=make_leaf(d, "bob_uri", client_ca, "/O=Globex/CN=workload", serial=3006,
                          san="URI:spiffe://globex.example/sa/bob", usage="clientAuth"),
        carol=make_leaf(d, "carol", client_ca, "/O=Acme/CN=Smith, Carol", serial=3007,
                        usage="clientAuth"),
        alice_server=make_leaf(d, "alice_server", client_ca, "/O=Acme/CN=alice", serial=3008,
                               usage="serverAuth"),
    )


@pytest.fixture(scope="module")
def cert_policy(tmp_path_factory) -> Path:
    """conf/policy.yaml plus dave (globex, certificate only) and a `certificates` section."""
    text = harness.DEFAULT_POLICY.read_text()
    marker = "\nusers:\n"
    assert marker in text
    dave = "  - name: dave           # no scram: a client certificate is the only way in\n" \
           "    tenant: globex\n    role: analyst\n"
    text = text.replace(marker, marker + dave, 1)
    text += ("\ncertificates:\n"
             "  - subject: \"CN=alice, O=Acme\"\n    user: alice\n"
             "  - san_email: dave@globex.example\n    user: dave\n"
             "  - san_dns: SVC.Globex.Example\n    user: bob\n"
             "  - san_uri: spiffe://globex.example/sa/bob\n    user: bob\n"
             "  - subject: 'cn = Smith\\, Carol, o=Acme'\n    user: carol\n")
    path = tmp_path_factory.mktemp("policy") / "policy.yaml"
    path.write_text(text)
    return path


# ---------------------------------------------------------------------------------------------
# Proxies with TLS settings


class TlsProxy(harness.Proxy):
    """harness.Proxy plus a `tls` section, optional backend.tls lines and an audit log."""

    tls: dict | None = None
    backend_tls: dict | None = None
    expect_exit = False  # the test stops it (SIGTERM): not dying is then not checked

    def config_text(self) -> str:
        text = super().config_text()
        if self.backend_tls:
            anchor = "  connect_timeout_ms: 5000\n"
            assert anchor in text
            text = text.replace(anchor, anchor + "  tls:\n" + "".join(
                f"    {k}: {json.dumps(v)}\n" for k, v in self.backend_tls.items()), 1)
        if self.tls:
            text += "tls:\n" + "".join(f"  {k}: {json.dumps(v)}\n" for k, v in self.tls.items())
        text += "audit:\n  path: audit.jsonl\n"
        return text

    def audit_events(self) -> list[dict]:
        path = self.tmp / "audit.jsonl"
        return [json.loads(line) for line in path.read_text().splitlines() if line.strip()]


@pytest.fixture
def start_tls_proxy():
    started = []

    def start(pg, tls=None, backend_tls=None, extra="", **kw) -> TlsProxy:
        px = TlsProxy(pg, **kw)
        px.tls, px.backend_tls, px.extra = tls, backend_tls, extra
        started.append(px)
        return px.start()

    yield start
    for px in started:
        alive = px.alive() or px.expect_exit
        output = px.output
        px.stop()
        assert alive, f"tenantwall died during the test; its log:\n{output[-8000:]}"


def server_tls(pki: Pki, **more) -> dict:
    return {"cert_file": str(pki.proxy[0]), "key_file": str(pki.proxy[1]), **more}


def client_cert_tls(pki: Pki, mode: str) -> dict:
    return server_tls(pki, ca_file=str(pki.client_ca[0]), client_certificates=mode)


# ---------------------------------------------------------------------------------------------
# Clients


def libpq(px, user: str, password: str | None = None, *, host: str = "127.0.0.1",
          sslmode: str = "verify-full", rootcert: Path | None = None,
          cert: tuple[Path, Path] | None = None, **kw):
    """A psycopg2 (libpq) connection; no password unless given, no client certificate unless
    given (sslcert pointed at a missing file stops libpq from sending ~/.postgresql's)."""
    params = dict(host=host, port=px.port, dbname="app", user=user, sslmode=sslmode,
                  connect_timeout=10, **kw)
    if password is not None:
        params["password"] = password
    if rootcert is not None:
        params["sslrootcert"] = str(rootcert)
    if cert is not None:
        params["sslcert"], params["sslkey"] = str(cert[0]), str(cert[1])
    else:
        params["sslcert"] = "/nonexistent/tenantwall-test.crt"
    conn = psycopg2.connect(**params)
    conn.autocommit = True
    return conn


def libpq_error(*args, **kw) -> str:
    with pytest.raises(psycopg2.OperationalError) as info:
        libpq(*args, **kw).close()
    return str(info.value)


def psql(px, conninfo: str, *commands: str, password: str | None = None):
    argv = [harness.PSQL, f"port={px.port} dbname=app {conninfo}", "-X", "-A", "-t",
            "-v", "ON_ERROR_STOP=1"]
    for c in commands:
        argv += ["-c", c]
    env = {k: v for k, v in os.environ.items() if not k.startswith("PG")}
    env["PGCONNECT_TIMEOUT"] = "10"
    if password is not None:
        env["PGPASSWORD"] = password
    return subprocess.run(argv, capture_output=True, text=True, timeout=30, env=env,
                          stdin=subprocess.DEVNULL)


def tls_context(pki: Pki | None = None, *, minimum=ssl.TLSVersion.TLSv1_2,
                maximum=ssl.TLSVersion.MAXIMUM_SUPPORTED,
                cert: tuple[Path, Path] | None = None) -> ssl.SSLContext:
    """A client context; with `pki` it verifies the server against the server CA."""
    ctx = ssl.SSLContext(ssl.PROTOCOL_TLS_CLIENT)
    if pki is None:
        ctx.check_hostname = False
        ctx.verify_mode = ssl.CERT_NONE
    else:
        ctx.load_verify_locations(str(pki.ca[0]))
    if minimum < ssl.TLSVersion.TLSv1_2:
        # Old protocols need OpenSSL's security level 0 on the client; the server must refuse.
        ctx.set_ciphers("DEFAULT:@SECLEVEL=0")
    ctx.minimum_version, ctx.maximum_version = minimum, maximum
    if cert is not None:
        ctx.load_cert_chain(str(cert[0]), str(cert[1]))
    return ctx


class TlsConn(wire.Conn):
    """wire.Conn over TLS: SSLRequest, 'S', then the handshake with `ctx`. Records every message
    read, so a test can see an ErrorResponse that came just before the server closed."""

    def __init__(self, port: int, ctx: ssl.SSLContext | None, timeout: float = 10.0):
        super().__init__("127.0.0.1", port, timeout)
        self.seen: list[tuple[bytes, bytes]] = []
        if ctx is not None:
            self.send(SSL_REQUEST_BYTES)
            answer = self.read_byte()
            assert answer == b"S", f"answer to SSLRequest: {answer!r}"
            self.sock = ctx.wrap_socket(self.sock, server_hostname="localhost")

    def read(self):
        m = super().read()
        self.seen.append(m)
        return m

    def errors(self) -> list[wire.Error]:
        return [wire.parse_error(p) for t, p in self.seen if t == b"E"]


def fatal_after_startup(conn: TlsConn, user: str) -> wire.Error:
    """Sends a startup packet and returns the single FATAL error the server ends with."""
    conn.send(wire.startup_packet(user))
    conn.read_until_closed()
    errors = conn.errors()
    assert len(errors) == 1 and errors[0].fields.get("S") == "FATAL", conn.seen
    return errors[0]


def customers(conn) -> list[tuple]:
    return run(conn, CUSTOMERS_SQL)[1]


def assert_proxy_serves(px, pg, user="bob"):
    """A fresh plain-text login works (the proxy survived whatever came before)."""
    with wire.Conn("127.0.0.1", px.port) as c:
        wire.scram_login(c, user, harness.USERS[user][0])
        rows, error = wire.simple_query(c, "SELECT count(*) FROM customers")
    want = pg.query("SELECT count(*) FROM customers WHERE tenant_id = %s",
                    (harness.USERS[user][1],))
    assert error is None and rows == [[str(want[0][0])]], (rows, error)


def peer_certificate(port: int, pki: Pki) -> dict:
    with TlsConn(port, tls_context(pki)) as c:
        return c.sock.getpeercert()




# ---------------------------------------------------------------------------------------------
# 1. Client TLS with verify-full


def test_libpq_verify_full_tenant_rows(start_tls_proxy, pg, pki):
    px = start_tls_proxy(pg, tls=server_tls(pki))
    for user in ("alice", "bob"):
        conn = libpq(px, user, harness.USERS[user][0], rootcert=pki.ca[0])
        try:
            assert conn.info.ssl_in_use is True
            assert conn.info.ssl_attribute("protocol") == "TLSv1.3"
            got = customers(conn)
        finally:
            conn.close()
        _, want = pg.truth(harness.USERS[user][1], CUSTOMERS_SQL)
        assert got == want and len(want) in (2, 3), f"as {user} over TLS: {got} != {want}"
        raw_emails = {r[0] for r in pg.query("SELECT email FROM customers WHERE email IS NOT NULL")}
        assert not raw_emails & {r[3] for r in got}, f"as {user}: raw e-mail over TLS: {got}"
    wait_for(lambda: "TLSv1.3 TLS_AES_256_GCM_SHA384" in px.output, "the TLS session in the log")


def test_psql_verify_full_conninfo_and_rows(start_tls_proxy, pg, pki):
    px = start_tls_proxy(pg, tls=server_tls(pki))
    # host=localhost: the DNS SAN; libpq above checked the IP SAN (127.0.0.1).
    p = psql(px, f"host=localhost user=alice sslmode=verify-full sslrootcert={pki.ca[0]} "
             f"sslcert=/nonexistent/x.crt", "\\conninfo", "SELECT name, email FROM customers ORDER BY id",
             password="alice-secret")
    assert p.returncode == 0, p.stderr
    lines = p.stdout.splitlines()
    assert lines[0].startswith('You are connected to database "app" as user "alice" on host '
                               '"localhost"'), p.stdout
    assert lines[1].startswith("SSL connection (protocol: TLSv1.3, cipher: "), p.stdout
    _, want = pg.truth("acme", "SELECT name, email FROM customers ORDER BY id")
    assert lines[2:] == [f"{n}|{e or ''}" for n, e in want], repr(p.stdout)


def test_tls_is_optional_unless_required(start_tls_proxy, pg, pki):
    px = start_tls_proxy(pg, tls=server_tls(pki))
    conn = libpq(px, "bob", "bob-secret", sslmode="disable")
    try:
        assert conn.info.ssl_in_use is False
        _, want = pg.truth("globex", CUSTOMERS_SQL)
        assert customers(conn) == want
    finally:
        conn.close()
    # GSSAPI encryption is not offered: 'N', and the connection goes on in plain text.
    with wire.Conn("127.0.0.1", px.port) as c:
        c.send(GSSENC_REQUEST_BYTES)
        assert c.read_byte() == b"N"
        wire.scram_login(c, "alice", "alice-secret")
        rows, error = wire.simple_query(c, "SELECT count(*) FROM customers")
        assert error is None and rows == [["3"]], (rows, error)


# ---------------------------------------------------------------------------------------------
# 2. Clients refuse a wrong host name or an untrusted CA


def test_verify_full_wrong_host_name_refused_by_client(start_tls_proxy, pg, pki):
    px = start_tls_proxy(pg, tls=server_tls(pki))
    message = libpq_error(px, "alice", "alice-secret", host="db.example", hostaddr="127.0.0.1",
                          rootcert=pki.ca[0])
    assert 'does not match host name "db.example"' in message, message
    p = psql(px, f"host=db.example hostaddr=127.0.0.1 user=alice sslmode=verify-full "
             f"sslrootcert={pki.ca[0]}", "SELECT 1", password="alice-secret")
    assert p.returncode == 2 and 'does not match host name "db.example"' in p.stderr, p.stderr
    # verify-ca does not check the name: the same host name is then fine.
    conn = libpq(px, "alice", "alice-secret", host="db.example", hostaddr="127.0.0.1",
                 sslmode="verify-ca", rootcert=pki.ca[0])
    conn.close()
    assert_proxy_serves(px, pg)


def test_verify_full_untrusted_ca_refused_by_client(start_tls_proxy, pg, pki):
    px = start_tls_proxy(pg, tls=server_tls(pki))
    message = libpq_error(px, "alice", "alice-secret", rootcert=pki.other_ca[0])
    assert "certificate verify failed" in message, message
    with pytest.raises(ssl.SSLCertVerificationError) as info:
        TlsConn(px.port, _untrusting_context(pki))
    assert info.value.verify_message == "unable to get local issuer certificate", info.value
    # The client gave up mid-handshake; the proxy logged it and goes on.
    wait_for(lambda: "TLS handshake failed" in px.output, "the handshake failure in the log")
    assert_proxy_serves(px, pg)


def _untrusting_context(pki: Pki) -> ssl.SSLContext:
    ctx = ssl.SSLContext(ssl.PROTOCOL_TLS_CLIENT)
    ctx.load_verify_locations(str(pki.other_ca[0]))
    return ctx


# ---------------------------------------------------------------------------------------------
# 3. tls.require


def test_require_refuses_plain_text_with_28000_and_audits(start_tls_proxy, pg, pki):
    px = start_tls_proxy(pg, tls=server_tls(pki, require=True))
    message = libpq_error(px, "alice", "alice-secret", sslmode="disable")
    assert 'connection for user "alice" refused: no encryption' in message, message
    with wire.Conn("127.0.0.1", px.port) as c:
        c.send(wire.startup_packet("bob"))
        messages = c.read_until_closed()
    assert [t for t, _ in messages] == [b"E"], messages
    error = wire.parse_error(messages[0][1])
    assert error.code == "28000" and error.fields["S"] == "FATAL", error
    assert error.text == 'connection for user "bob" refused: no encryption', error
    assert error.fields["H"] == ("tenantwall accepts TLS connections only: connect with "
                                 "sslmode=require, verify-ca or verify-full"), error
    # Over TLS the same users get in.
    conn = libpq(px, "alice", "alice-secret", sslmode="require")
    try:
        assert conn.info.ssl_in_use is True
        assert len(customers(conn)) == 3
    finally:
        conn.close()
    refused = [e for e in px.audit_events() if e.get("kind") == "auth" and e.get("decision") == "fail"]
    assert [(e["user"], e["sqlstate"], e["reason"]) for e in refused] == [
        ("alice", "28000", "no encryption (tls.require)"),
        ("bob", "28000", "no encryption (tls.require)"),
    ], refused
    ok = [e["user"] for e in px.audit_events() if e.get("kind") == "auth" and e.get("decision") == "ok"]
    assert ok == ["alice"], px.audit_events()


# ---------------------------------------------------------------------------------------------
# 4. Protocol versions


def _handshake_refused(port: int, ctx: ssl.SSLContext) -> ssl.SSLError:
    with pytest.raises(ssl.SSLError) as info:
        TlsConn(port, ctx).close()
    return info.value


def _tls_login_works(port: int, ctx: ssl.SSLContext, version: str) -> None:
    with TlsConn(port, ctx) as c:
        assert c.sock.version() == version
        wire.scram_login(c, "alice", "alice-secret")
        rows, error = wire.simple_query(c, "SELECT count(*) FROM customers")
        assert error is None and rows == [["3"]], (rows, error)


@pytest.mark.filterwarnings("ignore:ssl.TLSVersion.TLSv1:DeprecationWarning")
def test_protocol_versions(start_tls_proxy, pg, pki):
    px = start_tls_proxy(pg, tls=server_tls(pki))
    for old in (ssl.TLSVersion.TLSv1, ssl.TLSVersion.TLSv1_1):
        error = _handshake_refused(px.port, tls_context(minimum=old, maximum=old))
        # The server's protocol_version alert, not the client giving up on its own.
        assert error.reason == "TLSV1_ALERT_PROTOCOL_VERSION", (old, error)
    _tls_login_works(px.port, tls_context(pki, maximum=ssl.TLSVersion.TLSv1_2), "TLSv1.2")
    _tls_login_works(px.port, tls_context(pki, minimum=ssl.TLSVersion.TLSv1_3), "TLSv1.3")
    conn = libpq(px, "bob", "bob-secret", rootcert=pki.ca[0], ssl_max_protocol_version="TLSv1.2")
    try:
        assert conn.info.ssl_attribute("protocol") == "TLSv1.2"
        assert len(customers(conn)) == 2
    finally:
        conn.close()
    assert_proxy_serves(px, pg)


def test_min_version_1_3(start_tls_proxy, pg, pki):
    px = start_tls_proxy(pg, tls=server_tls(pki, min_version="1.3"))
    error = _handshake_refused(px.port, tls_context(maximum=ssl.TLSVersion.TLSv1_2))
    assert error.reason == "TLSV1_ALERT_PROTOCOL_VERSION", error
    message = libpq_error(px, "bob", "bob-secret", rootcert=pki.ca[0],
                          ssl_max_protocol_version="TLSv1.2")
    assert "protocol version" in message, message
    _tls_login_works(px.port, tls_context(pki), "TLSv1.3")


# ---------------------------------------------------------------------------------------------
# 5. Client certificates as principals


def test_client_certificate_logs_in_as_mapped_user(start_tls_proxy, pg, pki, cert_policy):
    px = start_tls_proxy(pg, tls=client_cert_tls(pki, "optional"), policy=cert_policy)
    # No password: the certificate is the credential. By subject (alice; carol, whose CN holds
    # an escaped comma), by SAN e-mail (dave, who has no password at all), by SAN DNS name
    # (matched regardless of case) and by SAN URI (bob).
    cases = [("alice", pki.alice, "acme"), ("carol", pki.carol, "acme"),
             ("dave", pki.dave, "globex"), ("bob", pki.bob_dns, "globex"),
             ("bob", pki.bob_uri, "globex")]
    for user, cert, tenant in cases:
        conn = libpq(px, user, rootcert=pki.ca[0], cert=cert)
        try:
            assert conn.info.ssl_in_use is True
            got = customers(conn)
        finally:
            conn.close()
        _, want = pg.truth(tenant, CUSTOMERS_SQL)
        assert got == want, f"{user} by certificate {cert[0].name}: {got} != {want}"
    ok = [(e["user"], e["reason"]) for e in px.audit_events()
          if e.get("kind") == "auth" and e.get("decision") == "ok"]
    assert ok == [("alice", 'client certificate "CN=alice,O=Acme" (subject match)'),
                  ("carol", 'client certificate "CN=Smith\\, Carol,O=Acme" (subject match)'),
                  ("dave", 'client certificate "CN=dave-laptop,O=Globex" (san_email match)'),
                  ("bob", 'client certificate "CN=svc,O=Globex" (san_dns match)'),
                  ("bob", 'client certificate "CN=workload,O=Globex" (san_uri match)')], ok
    # A certificate is not needed by users with a password (optional).
    conn = libpq(px, "bob", "bob-secret", rootcert=pki.ca[0])
    try:
        assert len(customers(conn)) == 2
    finally:
        conn.close()


def test_client_certificate_refusals(start_tls_proxy, pg, pki, cert_policy):
    px = start_tls_proxy(pg, tls=client_cert_tls(pki, "optional"), policy=cert_policy)

    # A client-CA certificate mapped to nobody: 28000, even for a user with a password.
    with TlsConn(px.port, tls_context(pki, cert=pki.mallory)) as c:
        error = fatal_after_startup(c, "alice")
    assert (error.code, error.text, error.fields.get("H")) == (
        "28000", 'certificate authentication failed for user "alice"',
        "the client certificate is not mapped to a tenantwall user"), error
    message = libpq_error(px, "alice", "alice-secret", rootcert=pki.ca[0], cert=pki.mallory)
    assert 'certificate authentication failed for user "alice"' in message, message

    # alice's certificate asking to be bob: 28000, mapped to another user.
    with TlsConn(px.port, tls_context(pki, cert=pki.alice)) as c:
        error = fatal_after_startup(c, "bob")
    assert (error.code, error.fields.get("H")) == (
        "28000", "the client certificate is mapped to another user"), error

    # alice's subject signed by a CA tls.ca_file does not hold: the handshake is refused, so the
    # certificate never reaches the mapping (as PostgreSQL refuses an unverifiable certificate).
    with TlsConn(px.port, tls_context(pki, cert=pki.fake_alice)) as c:
        with pytest.raises(ssl.SSLError) as info:
            c.send(wire.startup_packet("alice"))
            c.read()
    assert info.value.reason == "TLSV1_ALERT_UNKNOWN_CA", info.value
    message = libpq_error(px, "alice", rootcert=pki.ca[0], cert=pki.fake_alice)
    assert "unknown ca" in message, message
    # alice's subject from the client CA, but for servers only (extendedKeyUsage serverAuth).
    message = libpq_error(px, "alice", rootcert=pki.ca[0], cert=pki.alice_server)
    assert "alert unsupported certificate" in message, message

    # dave has no password: without a certificate he cannot log in. The answer is the one
    # unknown users get (28P01), so the refusal does not tell that dave exists.
    with TlsConn(px.port, tls_context(pki)) as c:
        with pytest.raises(wire.AuthFailed) as failed:
            wire.scram_login(c, "dave", "anything")
    assert failed.value.error.code == "28P01", failed.value
    assert failed.value.error.text == 'password authentication failed for user "dave"'
    message = libpq_error(px, "dave", rootcert=pki.ca[0])
    assert "no password supplied" in message, message

    # Every refusal is audited; those in the handshake before any user was named.
    fails = [(e["user"], e["sqlstate"], e["reason"]) for e in px.audit_events()
             if e.get("kind") == "auth" and e.get("decision") == "fail"]
    mallory = 'client certificate "CN=mallory,O=Acme" is not mapped to any user'
    unknown_ca = "TLS handshake: client certificate did not verify: unable to get local issuer " \
                 "certificate"
    purpose = "TLS handshake: client certificate did not verify: unsuitable certificate purpose"
    assert sorted(fails) == sorted([
        ("alice", "28000", mallory),
        ("alice", "28000", mallory),
        ("bob", "28000", 'client certificate "CN=alice,O=Acme" is mapped to other users only'),
        ("", "", unknown_ca),
        ("", "", unknown_ca),
        ("", "", purpose),
        ("dave", "28P01", "the policy holds no usable verifier for this user"),
    ]), fails
    wait_for(lambda: px.output.count(
        f"TLS handshake failed: {unknown_ca[len('TLS handshake: '):]}") == 2,
        "two unknown-CA handshake failures in the log")
    assert_proxy_serves(px, pg)


def test_client_certificates_required(start_tls_proxy, pg, pki, cert_policy):
    px = start_tls_proxy(pg, tls=client_cert_tls(pki, "required"), policy=cert_policy)
    # TLS 1.3: the client's handshake ends before the server checks; the alert comes next.
    with TlsConn(px.port, tls_context(pki)) as c:
        with pytest.raises(ssl.SSLError) as info:
            c.send(wire.startup_packet("bob"))
            c.read()
    assert info.value.reason == "TLSV13_ALERT_CERTIFICATE_REQUIRED", info.value
    message = libpq_error(px, "bob", "bob-secret", rootcert=pki.ca[0])
    assert "certificate required" in message, message
    conn = libpq(px, "dave", rootcert=pki.ca[0], cert=pki.dave)
    try:
        _, want = pg.truth("globex", CUSTOMERS_SQL)
        assert customers(conn) == want
    finally:
        conn.close()
    reason = "the client sent no certificate (tls.client_certificates: required)"
    fails = [(e["user"], e["reason"]) for e in px.audit_events()
             if e.get("kind") == "auth" and e.get("decision") == "fail"]
    assert fails == [("", f"TLS handshake: {reason}")] * 2, fails
    wait_for(lambda: px.output.count(f"TLS handshake failed: {reason}") == 2,
             "two missing-certificate handshake failures in the log")


# ---------------------------------------------------------------------------------------------
# 6. Certificate files replaced on disk


def test_certificate_reload(start_tls_proxy, pg, pki, tmp_path):
    cert, key = tmp_path / "server.pem", tmp_path / "server.key"
    shutil.copyfile(pki.proxy[0], cert)
    shutil.copyfile(pki.proxy[1], key)
    px = start_tls_proxy(pg, tls={"cert_file": str(cert), "key_file": str(key)})
    first = peer_certificate(px.port, pki)
    assert (first["serialNumber"], first["subject"]) == (
        "03E9", ((("commonName", "tenantwall-proxy-1"),),)), first
    session = libpq(px, "alice", "alice-secret", rootcert=pki.ca[0])
    try:
        assert len(customers(session)) == 3

        # Replaced as a deployment would: new files renamed over the old ones.
        for source, target in ((pki.proxy2[1], key), (pki.proxy2[0], cert)):
            shutil.copyfile(source, target.with_suffix(".new"))
            os.replace(target.with_suffix(".new"), target)
        second = peer_certificate(px.port, pki)
        assert (second["serialNumber"], second["subject"]) == (
            "03EA", ((("commonName", "tenantwall-proxy-2"),),)), second
        wait_for(lambda: "client TLS (tls.cert_file, tls.key_file, tls.ca_file) reloaded"
                 in px.output, "the reload line in the log")
        # The session from before keeps its TLS connection and works.
        assert session.info.ssl_in_use is True
        _, want = pg.truth("acme", CUSTOMERS_SQL)
        assert customers(session) == want

        # A file that does not load keeps the running certificate, and says so.
        cert.write_text("not a certificate\n")
        third = peer_certificate(px.port, pki)
        assert third["serialNumber"] == "03EA", third
        wait_for(lambda: "client TLS (tls.cert_file, tls.key_file, tls.ca_file) not reloaded, "
                 "keeping the running one" in px.output, "the failed reload in the log")
        conn = libpq(px, "bob", "bob-secret", rootcert=pki.ca[0])
        assert len(customers(conn)) == 2
        conn.close()
        assert len(customers(session)) == 3
    finally:
        session.close()


# ---------------------------------------------------------------------------------------------
# 7. TLS towards PostgreSQL


@pytest.fixture(scope="module")
def pg_tls(pki):
    server = harness.Postgres(ssl_files=pki.postgres)
    server.start()
    yield server
    server.stop()


def _service_connections_ssl(pg) -> list[tuple]:
    return pg.query(
        "SELECT s.ssl, s.version FROM pg_stat_ssl s JOIN pg_stat_activity a USING (pid) "
        f"WHERE a.usename = %s AND a.backend_type = 'client backend' AND a.{harness.NOT_PROXY_SERVICE} "
        "ORDER BY a.pid",
        (harness.SERVICE_ROLE,))


@pytest.mark.parametrize("mode", ["verify-full", "verify-ca", "require"])
def test_backend_tls(start_tls_proxy, pg_tls, pki, mode):
    backend_tls = {"mode": mode}
    if mode != "require":
        backend_tls["ca_file"] = str(pki.ca[0])
    px = start_tls_proxy(pg_tls, backend_tls=backend_tls)
    conns = [libpq(px, user, harness.USERS[user][0], sslmode="disable") for user in ("alice", "bob")]
    try:
        for conn, tenant in zip(conns, ("acme", "globex")):
            _, want = pg_tls.truth(tenant, CUSTOMERS_SQL)
            assert customers(conn) == want
        # PostgreSQL itself reports the proxy's connections as TLS; the proxy refuses
        # statistics views, so this is read over a direct superuser connection.
        seen = _service_connections_ssl(pg_tls)
        assert len(seen) >= 2 and all(row == (True, "TLSv1.3") for row in seen), seen
    finally:
        for conn in conns:
            conn.close()


def test_backend_tls_wrong_ca_or_name_is_a_clean_error(start_tls_proxy, pg_tls, pg, pki):
    cases = [
        (pg_tls, {"mode": "verify-full", "ca_file": str(pki.other_ca[0])},
         "certificate verify failed"),
        (pg_tls, {"mode": "verify-ca", "ca_file": str(pki.other_ca[0])},
         "certificate verify failed"),
        (pg_tls, {"mode": "verify-full", "ca_file": str(pki.ca[0]), "server_name": "db.example"},
         "certificate verify failed (hostname mismatch)"),
        (pg, {"mode": "require"}, "does not accept TLS, and backend.tls.mode is require"),
    ]
    for server, backend_tls, logged in cases:
        px = start_tls_proxy(server, backend_tls=backend_tls)
        started = time.monotonic()
        with TlsConn(px.port, None) as c:
            with pytest.raises(wire.Closed):
                wire.scram_login(c, "alice", "alice-secret")
            assert [t for t, _ in c.seen][-2:] == [b"R", b"E"], c.seen  # AuthenticationOk, error
            errors = c.errors()
        assert time.monotonic() - started < 5, f"{backend_tls}: took too long"
        assert [(e.code, e.fields["S"], e.text) for e in errors] == [
            ("08006", "FATAL", "tenantwall could not connect to the database")], errors
        wait_for(lambda: logged in px.output, f"{backend_tls}: {logged!r} in the log")
        message = libpq_error(px, "bob", "bob-secret", sslmode="disable")
        assert "tenantwall could not connect to the database" in message, message
        assert px.alive()


# ---------------------------------------------------------------------------------------------
# 8. Malformed TLS


def test_malformed_tls_does_not_hurt_the_proxy(start_tls_proxy, pg, pki):
    px = start_tls_proxy(pg, tls=server_tls(pki), limits={"login_timeout_ms": 3000})

    # Garbage instead of a ClientHello: the proxy ends the connection.
    with wire.Conn("127.0.0.1", px.port) as c:
        c.send(SSL_REQUEST_BYTES)
        assert c.read_byte() == b"S"
        c.send(b"GET / HTTP/1.1\r\nHost: x\r\n\r\n" * 20)
        assert c.is_closed(5), "the proxy kept a connection that sent garbage for TLS"

    # A ClientHello cut short, then the client goes away.
    hello = _client_hello_bytes()
    with wire.Conn("127.0.0.1", px.port) as c:
        c.send(SSL_REQUEST_BYTES)
        assert c.read_byte() == b"S"
        c.send(hello[: len(hello) // 2])
    # A client that closes right after 'S', and one that resets mid-handshake.
    with wire.Conn("127.0.0.1", px.port) as c:
        c.send(SSL_REQUEST_BYTES)
        assert c.read_byte() == b"S"
    with wire.Conn("127.0.0.1", px.port) as c:
        c.send(SSL_REQUEST_BYTES)
        assert c.read_byte() == b"S"
        c.send(hello)
        c.sock.setsockopt(socket.SOL_SOCKET, socket.SO_LINGER, struct.pack("ii", 1, 0))

    # Bytes pipelined after SSLRequest would be read as if encrypted: refused (08P01).
    with wire.Conn("127.0.0.1", px.port) as c:
        c.send(SSL_REQUEST_BYTES + wire.startup_packet("alice"))
        messages = c.read_until_closed()
    errors = [wire.parse_error(p) for t, p in messages if t == b"E"]
    assert [(e.code, e.text) for e in errors] == [
        ("08P01", "unexpected data after encryption request")], messages

    # SSLRequest again inside TLS: refused (08P01) over the encrypted connection.
    with TlsConn(px.port, tls_context(pki)) as c:
        c.send(SSL_REQUEST_BYTES)
        c.read_until_closed()
        assert [(e.code, e.text) for e in c.errors()] == [
            ("08P01", "encryption request on an encrypted connection")], c.seen

    # A client that says nothing after 'S' is dropped at the login deadline
    # (limits.login_timeout_ms, 3 s here), which the handshake is part of.
    started = time.monotonic()
    with wire.Conn("127.0.0.1", px.port, timeout=15) as c:
        c.send(SSL_REQUEST_BYTES)
        assert c.read_byte() == b"S"
        assert c.is_closed(14), "a silent client held its TLS handshake open"
        assert 2.7 < time.monotonic() - started < 8
    wait_for(lambda: "no start-up packet within 3000 ms" in px.output,
             "the timed-out handshake in the log")
    # One that stops halfway through SCRAM over TLS is told why, over TLS.
    started = time.monotonic()
    with TlsConn(px.port, tls_context(pki), timeout=15) as c:
        wire.scram_login(c, "alice", "alice-secret", stop_after="first")
        c.read_until_closed()
        assert [(e.code, e.text) for e in c.errors()] == [
            ("57014", "canceling authentication due to timeout")], c.seen
        assert 2.7 < time.monotonic() - started < 8

    # A logged-in TLS client that vanishes (TCP reset, no close_notify): its PostgreSQL
    # connection is closed too.
    def service_backends() -> int:
        return pg.query("SELECT count(*) FROM pg_stat_activity WHERE usename = %s AND "
                        f"backend_type = 'client backend' AND {harness.NOT_PROXY_SERVICE}",
                        (harness.SERVICE_ROLE,))[0][0]
    before = service_backends()
    c = TlsConn(px.port, tls_context(pki))
    wire.scram_login(c, "alice", "alice-secret")
    assert wire.simple_query(c, "SELECT count(*) FROM customers") == ([["3"]], None)
    assert service_backends() == before + 1
    c.sock.setsockopt(socket.SOL_SOCKET, socket.SO_LINGER, struct.pack("ii", 1, 0))
    c.sock.close()
    wait_for(lambda: service_backends() == before, "the reset session's backend to close")

    wait_for(lambda: px.output.count("TLS handshake failed") >= 4,
             "four handshake failures in the log")
    assert_proxy_serves(px, pg)
    conn = libpq(px, "alice", "alice-secret", rootcert=pki.ca[0])
    try:
        assert conn.info.ssl_in_use is True and len(customers(conn)) == 3
    finally:
        conn.close()


def _client_hello_bytes() -> bytes:
    """The first flight of a real TLS client (a ClientHello), taken with memory BIOs."""
    ctx = tls_context()
    incoming, outgoing = ssl.MemoryBIO(), ssl.MemoryBIO()
    obj = ctx.wrap_bio(incoming, outgoing, server_hostname="localhost")
    with pytest.raises(ssl.SSLWantReadError):
        obj.do_handshake()
    hello = outgoing.read()
    assert hello[0] == 0x16 and len(hello) > 100, hello[:16]
    return hello


# ---------------------------------------------------------------------------------------------
# Cancel and drain with TLS on both sides


def test_cancel_with_tls_required_and_backend_tls(start_tls_proxy, pg_tls, pki):
    """libpq (15) sends CancelRequest in plain text on a new connection: tls.require must not
    refuse it, and the proxy forwards it to PostgreSQL over backend TLS."""
    px = start_tls_proxy(pg_tls, tls=server_tls(pki, require=True),
                         backend_tls={"mode": "verify-full", "ca_file": str(pki.ca[0])})
    conn = libpq(px, "alice", "alice-secret", rootcert=pki.ca[0])
    marker = 300_000_007
    sql = f"SELECT count(*) FROM generate_series(1, {marker})"

    def running():
        return pg_tls.query("SELECT pid FROM pg_stat_activity WHERE usename = %s AND "
                            "state = 'active' AND query LIKE %s",
                            (harness.SERVICE_ROLE, f"%generate_series%{marker}%"))

    def cancel_when_running():
        deadline = time.monotonic() + 10
        while not running() and time.monotonic() < deadline:
            time.sleep(0.05)
        time.sleep(0.5)
        conn.cancel()

    canceller = threading.Thread(target=cancel_when_running)
    canceller.start()
    started = time.monotonic()
    try:
        with pytest.raises(psycopg2.errors.QueryCanceled) as info:
            run(conn, sql)
        assert info.value.pgcode == "57014"
        assert time.monotonic() - started < 10
        assert len(customers(conn)) == 3  # the session goes on
        refused = [e for e in px.audit_events() if e.get("kind") == "auth" and e.get("decision") == "fail"]
        assert refused == [], refused
    finally:
        canceller.join()
        conn.close()
        pg_tls.query("SELECT pg_cancel_backend(pid) FROM pg_stat_activity WHERE usename = %s "
                     "AND query LIKE %s AND pid <> pg_backend_pid()",
                     (harness.SERVICE_ROLE, f"%generate_series%{marker}%"))


def test_drain_with_tls_sessions(start_tls_proxy, pg_tls, pki):
    px = start_tls_proxy(pg_tls, tls=server_tls(pki),
                         backend_tls={"mode": "verify-full", "ca_file": str(pki.ca[0])})
    idle_wire = TlsConn(px.port, tls_context(pki))
    wire.scram_login(idle_wire, "carol", "carol-secret")
    idle = libpq(px, "alice", "alice-secret", rootcert=pki.ca[0])
    busy = libpq(px, "bob", "bob-secret", rootcert=pki.ca[0])
    busy.autocommit = False
    cur = busy.cursor()
    cur.execute("SELECT count(*) FROM customers")
    assert cur.fetchall() == [(2,)]
    px.expect_exit = True
    px.process.send_signal(signal.SIGTERM)
    try:
        # The idle sessions get 57P01 over TLS, then an orderly close.
        idle_wire.read_until_closed()
        assert [(e.code, e.fields["S"], e.text) for e in idle_wire.errors()] == [
            ("57P01", "FATAL", "terminating connection due to administrator command")], \
            idle_wire.seen
        with pytest.raises(psycopg2.OperationalError) as info:
            idle.cursor().execute("SELECT 1")
        # libpq reports a closed TLS connection so, whatever the server said (PostgreSQL's own
        # pg_terminate_backend gives the same text).
        assert "SSL connection has been closed unexpectedly" in str(info.value), info.value
        assert px.alive(), "the proxy stopped before the open transaction ended"
        cur.execute("SELECT name FROM customers ORDER BY id")
        assert [r[0] for r in cur.fetchall()] == ["Gina Grant", "Gus Gold"]
        busy.commit()
        deadline = time.monotonic() + 10
        while px.alive() and time.monotonic() < deadline:
            time.sleep(0.05)
        assert px.process.returncode == 0, px.output
    finally:
        idle_wire.close()
        idle.close()
        busy.close()


# ---------------------------------------------------------------------------------------------
# Volume and concurrency over TLS on both sides


def test_large_results_and_parallel_sessions(start_tls_proxy, pg_tls, pki):
    # Two I/O threads: sessions' TLS streams and the shared contexts are used from both.
    px = start_tls_proxy(pg_tls, tls=server_tls(pki),
                         backend_tls={"mode": "verify-full", "ca_file": str(pki.ca[0])},
                         extra="io_threads: 2\n")
    # Many TLS records each way: 200,000 rows out, a 1 MB statement in.
    conn = libpq(px, "alice", "alice-secret", rootcert=pki.ca[0])
    try:
        _, rows = run(conn, "SELECT g, md5(g::text) FROM generate_series(1, 200000) g")
        assert len(rows) == 200000 and rows[0][0] == 1 and rows[-1][0] == 200000
        assert rows[123456][1] == pg_tls.query("SELECT md5('123457')")[0][0]
        padding = "x" * (1 << 20)
        _, rows = run(conn, f"SELECT length('{padding}'), count(*) FROM customers")
        assert rows == [(1 << 20, 3)]
    finally:
        conn.close()

    # Sessions of both tenants at once, each with its own TLS connections on both sides.
    assert_parallel_sessions(px, pg_tls, pki, sessions=16, queries=5)


def assert_parallel_sessions(px, pg_tls, pki, sessions: int, queries: int) -> None:
    """Sessions of alice and bob in turn, all at once over TLS, each reading its customers
    `queries` times; each must see exactly its own tenant's rows every time."""
    results: dict[int, object] = {}

    def session(i: int) -> None:
        user = ("alice", "bob")[i % 2]
        try:
            c = libpq(px, user, harness.USERS[user][0], rootcert=pki.ca[0])
            try:
                results[i] = (user, [customers(c) for _ in range(queries)])
            finally:
                c.close()
        except Exception as e:  # noqa: BLE001 - reported below
            results[i] = e

    threads = [threading.Thread(target=session, args=(i,)) for i in range(sessions)]
    for t in threads:
        t.start()
    for t in threads:
        t.join(60)
    want = {u: pg_tls.truth(harness.USERS[u][1], CUSTOMERS_SQL)[1] for u in ("alice", "bob")}
    assert len(results) == sessions, results
    for i, result in results.items():
        assert not isinstance(result, Exception), f"session {i}: {result!r}"
        user, answers = result
        assert answers == [want[user]] * queries, f"session {i} as {user}: {answers}"


def test_transaction_pool_of_tls_backends_across_io_threads(start_tls_proxy, pg_tls, pki):
    # A TLS backend connection cannot move to another I/O thread as a plain one does
    # (proxy/stream.h): on a transaction pool of two shared by clients on three threads, it
    # serves each client from the thread it was opened on.
    px = start_tls_proxy(pg_tls, tls=server_tls(pki),
                         backend_tls={"mode": "verify-full", "ca_file": str(pki.ca[0])},
                         extra="io_threads: 3\npool:\n  mode: transaction\n  size: 2\n")
    wait_for(lambda: "3 I/O threads" in px.output, "the log line of three I/O threads")
    assert_parallel_sessions(px, pg_tls, pki, sessions=9, queries=10)
    # The pool's connections (earlier tests' may take a moment to go): two at most, all TLS.
    pooled = wait_for(lambda: (lambda rows: rows if 1 <= len(rows) <= 2 else None)(pg_tls.query(
        "SELECT s.ssl FROM pg_stat_ssl s JOIN pg_stat_activity a USING (pid) "
        f"WHERE a.usename = %s AND a.backend_type = 'client backend' AND {harness.NOT_PROXY_SERVICE}",
        (harness.SERVICE_ROLE,))), "the pool's two backend connections")
    assert all(r[0] for r in pooled), pooled


# ---------------------------------------------------------------------------------------------
# Start-up errors and the backend CA file replaced on disk


def test_tls_settings_that_cannot_work_stop_the_start(pg, pki, tmp_path):
    missing = tmp_path / "missing.pem"
    cases = [
        ({"cert_file": str(missing), "key_file": str(pki.proxy[1])},
         f"tls.cert_file '{missing}': cannot be read: No such file or directory"),
        ({"cert_file": str(pki.proxy[0]), "key_file": str(pki.proxy2[1])},
         f"tls.key_file '{pki.proxy2[1]}' does not belong to the certificate in tls.cert_file"),
        (server_tls(pki, client_certificates="optional"),
         "tls.client_certificates needs tls.ca_file, the CAs client certificates must chain to"),
        (server_tls(pki, min_version="1.1"), "expected one of '1.2', '1.3'"),
        ({"require": True}, "TLS settings need tls.cert_file and tls.key_file"),
    ]
    for tls, expected in cases:
        px = TlsProxy(pg)
        px.tls = tls
        with pytest.raises(harness.HarnessError) as info:
            px.start()
        assert expected in str(info.value), f"{tls}: {info.value}"


def test_backend_ca_file_replaced_on_disk(start_tls_proxy, pg_tls, pki, tmp_path):
    ca_file = tmp_path / "pg-ca.pem"
    shutil.copyfile(pki.other_ca[0], ca_file)
    px = start_tls_proxy(pg_tls, backend_tls={"mode": "verify-full", "ca_file": str(ca_file)})
    message = libpq_error(px, "alice", "alice-secret", sslmode="disable")
    assert "tenantwall could not connect to the database" in message, message
    shutil.copyfile(pki.ca[0], tmp_path / "pg-ca.new")
    os.replace(tmp_path / "pg-ca.new", ca_file)
    conn = libpq(px, "alice", "alice-secret", sslmode="disable")
    try:
        assert len(customers(conn)) == 3
    finally:
        conn.close()
    wait_for(lambda: "backend TLS (backend.tls.ca_file) reloaded" in px.output,
             "the backend TLS reload in the log")
