"""Bearer tokens as principals (policy `jwt` section) and credential rotation by reload.

Keys and tokens are made here with PyJWT and cryptography (Debian python3-jwt,
python3-cryptography); the real proxy verifies them. A client logs in as user "jwt" with the token
as password and sees only its token's tenant; bad tokens get an exact SQLSTATE and message and an
audit event. Rotating the key set, a static user's verifier or the backend service password by
reload keeps sessions that are already authenticated and changes what new logins need.
"""
import base64
import json
import signal
import subprocess
import time

import jwt as pyjwt
import psycopg2
import pytest
from cryptography.hazmat.primitives import serialization
from cryptography.hazmat.primitives.asymmetric import ec, rsa

import harness
import wire
from checks import audit_events, run, wait_for

ISSUER = "https://idp.test/"
AUDIENCE = "tenantwall"
HMAC_SECRET = b"tenantwall-integration-hmac-secret-0123456789"


def b64url(data: bytes) -> str:
    return base64.urlsafe_b64encode(data).rstrip(b"=").decode()


def public_jwk(key, kid: str) -> dict:
    if isinstance(key, bytes):
        return {"kty": "oct", "kid": kid, "k": b64url(key)}
    if isinstance(key, rsa.RSAPrivateKey):
        numbers = key.public_key().public_numbers()
        n = numbers.n.to_bytes((numbers.n.bit_length() + 7) // 8, "big")
        e = numbers.e.to_bytes((numbers.e.bit_length() + 7) // 8, "big")
        return {"kty": "RSA", "kid": kid, "use": "sig", "alg": "RS256", "n": b64url(n),
                "e": b64url(e)}
    numbers = key.public_key().public_numbers()
    return {"kty": "EC", "kid": kid, "crv": "P-256", "x": b64url(numbers.x.to_bytes(32, "big")),
            "y": b64url(numbers.y.to_bytes(32, "big"))}


def write_jwks(path, keys: dict) -> None:
    """keys: kid -> private key (or HMAC secret); only public parts are written (oct excepted)."""
    tmp = path.with_suffix(".tmp")
    tmp.write_text(json.dumps({"keys": [public_jwk(k, kid) for kid, k in keys.items()]}))
    tmp.replace(path)


def claims(tenant="acme", **over) -> dict:
    now = int(time.time())
    c = {"iss": ISSUER, "aud": AUDIENCE, "sub": f"dana@{tenant}", "org_id": tenant,
         "groups": ["analysts"], "region": "eu", "iat": now, "nbf": now - 5, "exp": now + 600}
    c.update(over)
    return {k: v for k, v in c.items() if v is not None}


def sign(key, kid: str, payload: dict, algorithm: str | None = None) -> str:
    if algorithm is None:
        algorithm = ("HS256" if isinstance(key, bytes) else
                     "RS256" if isinstance(key, rsa.RSAPrivateKey) else "ES256")
    if not isinstance(key, bytes):
        key = key.private_bytes(serialization.Encoding.PEM, serialization.PrivateFormat.PKCS8,
                                serialization.NoEncryption())
    return pyjwt.encode(payload, key, algorithm=algorithm, headers={"kid": kid})


JWT_SECTION = f"""
jwt:
  jwks_file: jwks.json
  issuer: {ISSUER}
  audience: {AUDIENCE}
  algorithms: [RS256, ES256, HS256]
  leeway_seconds: 5
  claims: {{tenant: org_id, user: sub, groups: groups, attributes: {{region: region}}}}
  roles:
    - {{group: analysts, role: analyst}}
"""


class JwtProxy(harness.Proxy):
    """A proxy with an audit log and, optionally, the backend password in a file."""

    backend_password_file: str | None = None  # contents of backend.password_file

    def config_text(self):
        text = super().config_text()
        if self.backend_password_file is not None:
            (self.tmp / "backend.password").write_text(self.backend_password_file + "\n")
            before = text
            text = "\n".join(line for line in text.split("\n")
                             if not line.startswith("  password: "))
            assert text != before
            text = text.replace("  connect_timeout_ms:",
                                "  password_file: backend.password\n  connect_timeout_ms:", 1)
        return text + "audit:\n  path: audit.jsonl\n"

    def audit_events(self) -> list[dict]:
        return audit_events(self.tmp / "audit.jsonl")

    def audit_text(self) -> str:
        path = self.tmp / "audit.jsonl"
        return path.read_text() if path.exists() else ""

    def reload(self) -> None:
        """SIGHUP, then wait for the reload to be logged (ok or rejected)."""
        before = self.output.count("policy reload")
        self.process.send_signal(signal.SIGHUP)
        wait_for(lambda: self.output.count("policy reload") > before, "the reload to be logged")
        assert "policy reload rejected" not in self.output, self.output[-3000:]




def start_jwt_proxy(pg, directory, keys: dict, policy_text: str | None = None, **kw) -> JwtProxy:
    directory.mkdir(parents=True, exist_ok=True)
    write_jwks(directory / "jwks.json", keys)
    policy = directory / "policy.yaml"
    policy.write_text(policy_text or harness.DEFAULT_POLICY.read_text() + JWT_SECTION)
    px = JwtProxy(pg, policy=policy)
    for name, value in kw.items():
        setattr(px, name, value)
    return px.start()


@pytest.fixture(scope="module")
def keys():
    return {"rsa-1": rsa.generate_private_key(public_exponent=65537, key_size=2048),
            "ec-1": ec.generate_private_key(ec.SECP256R1()),
            "hs-1": HMAC_SECRET}


@pytest.fixture(scope="module")
def jwt_proxy(pg, keys, tmp_path_factory):
    px = start_jwt_proxy(pg, tmp_path_factory.mktemp("jwt"), keys)
    yield px
    px.stop()


def token_connect(px, token: str, **kw):
    conn = psycopg2.connect(host="127.0.0.1", port=px.port, dbname="app", user="jwt",
                            password=token, sslmode="disable", connect_timeout=10, **kw)
    conn.autocommit = True
    return conn


def token_refusal(px, token: str, user: str = "jwt") -> wire.Error:
    """Logs in over the raw protocol: the proxy must ask for a cleartext password, then answer
    the token with one FATAL ErrorResponse and close."""
    with wire.Conn("127.0.0.1", px.port) as conn:
        conn.send(wire.startup_packet(user))
        tag, payload = conn.read()
        assert tag == b"R" and wire.auth_request(payload)[0] == 3, (
            f"expected AuthenticationCleartextPassword for {user!r}, got {tag!r} {payload!r}")
        conn.send(wire.message(b"p", token.encode() + b"\0"))
        tag, payload = conn.read()
        assert tag == b"E", f"the token was accepted: {tag!r} {payload!r}"
        error = wire.parse_error(payload)
        assert error.fields.get("S") == "FATAL", error
        assert conn.is_closed(), "the proxy kept the connection open after refusing the token"
        return error


def auth_event(px, decision: str, reason_part: str, **fields) -> dict:
    """The first auth event with this decision, reason text and member values (waits for it)."""
    def find():
        for event in px.audit_events():
            if (event["kind"] == "auth" and event["decision"] == decision
                    and reason_part in event["reason"]
                    and all(event[k] == v for k, v in fields.items())):
                return event
        return None
    return wait_for(find, f"an auth {decision} audit event with {reason_part!r} and {fields}")


# -- logins -------------------------------------------------------------------------------------

@pytest.mark.parametrize("tenant", ["acme", "globex"])
def test_token_sees_only_its_tenant(jwt_proxy, keys, world, tenant):
    conn = token_connect(jwt_proxy, sign(keys["rsa-1"], "rsa-1", claims(tenant)))
    try:
        _, rows = run(conn, "SELECT id, tenant_id, name FROM customers ORDER BY id")
        assert rows == [(c["id"], c["tenant_id"], c["name"]) for c in world.customers_of(tenant)]
        _, tenants = run(conn, "SELECT DISTINCT tenant_id FROM orders")
        assert tenants == [(tenant,)], tenants
        with pytest.raises(psycopg2.Error) as info:
            other = "globex" if tenant == "acme" else "acme"
            run(conn, f"SELECT * FROM customers WHERE tenant_id = '{other}'")
        assert info.value.pgcode == "42501", info.value
    finally:
        conn.close()
    auth_event(jwt_proxy, "ok", "bearer token, kid rsa-1, expires ", user=f"dana@{tenant}",
               tenant=tenant, role="analyst")


@pytest.mark.parametrize("kid", ["rsa-1", "ec-1", "hs-1"])
def test_each_algorithm_logs_in(jwt_proxy, keys, kid):
    conn = token_connect(jwt_proxy, sign(keys[kid], kid, claims("globex")))
    try:
        _, rows = run(conn, "SELECT count(*) FROM customers")
        assert rows == [(2,)], rows
    finally:
        conn.close()


def test_static_users_still_use_scram(jwt_proxy):
    with wire.Conn("127.0.0.1", jwt_proxy.port) as conn:
        messages = wire.scram_login(conn, "alice", "alice-secret")
        assert messages[-1][0] == b"Z"
        rows, error = wire.simple_query(conn, "SELECT count(*) FROM customers")
        assert error is None and rows == [["3"]], (rows, error)
    # A static user's password is not a token, and a token is not a static user's password.
    error = token_refusal(jwt_proxy, "alice-secret")
    assert (error.code, error.text) == (
        "28P01", "the password is not a token (header.payload.signature)")


# -- refusals: exact SQLSTATE and message, audited without the token ----------------------------

def _expired(keys):
    exp = int(time.time()) - 3600
    return sign(keys["rsa-1"], "rsa-1", claims(exp=exp, nbf=exp - 600)), (
        "28P01", f"token expired at {time.strftime('%Y-%m-%dT%H:%M:%SZ', time.gmtime(exp))}")


def _forged_key(keys):
    intruder = rsa.generate_private_key(public_exponent=65537, key_size=2048)
    return sign(intruder, "rsa-1", claims()), ("28P01", "token signature is invalid")


def _tampered_payload(keys):
    header, _, signature = sign(keys["rsa-1"], "rsa-1", claims("acme")).split(".")
    payload = b64url(json.dumps(claims("globex")).encode())
    return f"{header}.{payload}.{signature}", ("28P01", "token signature is invalid")


def _alg_none(keys):
    return pyjwt.encode(claims(), None, algorithm="none"), (
        "28P01", 'token algorithm "none" is not allowed (the policy allows RS256, ES256, HS256)')


def _alg_confusion(keys):
    pem = keys["rsa-1"].public_key().public_bytes(serialization.Encoding.PEM,
                                                  serialization.PublicFormat.SubjectPublicKeyInfo)
    header = b64url(json.dumps({"alg": "HS256", "kid": "rsa-1"}).encode())
    payload = b64url(json.dumps(claims()).encode())
    import hashlib
    import hmac
    mac = hmac.new(pem, f"{header}.{payload}".encode(), hashlib.sha256).digest()
    return f"{header}.{payload}.{b64url(mac)}", (
        "28P01", 'token key id "rsa-1" names a key of type RSA, which cannot verify HS256 tokens')


def _unknown_kid(keys):
    return sign(keys["rsa-1"], "rsa-9", claims()), (
        "28P01", 'token key id "rsa-9" is not in the policy\'s key set')


def _wrong_issuer(keys):
    return sign(keys["ec-1"], "ec-1", claims(iss="https://evil.test/")), (
        "28P01", f'token issuer "https://evil.test/" is not the policy\'s issuer "{ISSUER}"')


def _wrong_audience(keys):
    return sign(keys["ec-1"], "ec-1", claims(aud=["billing", "crm"])), (
        "28P01", 'token audience (billing, crm) does not include "tenantwall"')


def _not_yet_valid(keys):
    nbf = int(time.time()) + 3600
    return sign(keys["hs-1"], "hs-1", claims(nbf=nbf, exp=nbf + 600)), (
        "28P01",
        f"token is not valid before {time.strftime('%Y-%m-%dT%H:%M:%SZ', time.gmtime(nbf))}")


def _unknown_tenant(keys):
    return sign(keys["rsa-1"], "rsa-1", claims("initech")), (
        "28000", 'token tenant "initech" is not a tenant of this policy')


def _no_tenant(keys):
    return sign(keys["rsa-1"], "rsa-1", claims(org_id=None)), (
        "28000", 'token has no "org_id" claim naming the tenant')


def _no_role(keys):
    return sign(keys["rsa-1"], "rsa-1", claims(groups=["admins", "staff"])), (
        "28000", "token groups (admins, staff) match no role in the policy's jwt.roles")


REFUSALS = [_expired, _forged_key, _tampered_payload, _alg_none, _alg_confusion, _unknown_kid,
            _wrong_issuer, _wrong_audience, _not_yet_valid, _unknown_tenant, _no_tenant, _no_role]


@pytest.mark.parametrize("case", REFUSALS, ids=[f.__name__.lstrip("_") for f in REFUSALS])
def test_bad_token_is_refused_and_audited(jwt_proxy, keys, case):
    token, (code, message) = case(keys)
    error = token_refusal(jwt_proxy, token)
    assert (error.code, error.text) == (code, message), str(error)
    # libpq shows the same message to applications.
    with pytest.raises(psycopg2.OperationalError) as info:
        token_connect(jwt_proxy, token).close()
    assert f"FATAL:  {message}" in str(info.value), str(info.value)
    event = auth_event(jwt_proxy, "fail", "bearer token: " + message)
    assert event["sqlstate"] == code, event
    assert event["reason"] == "bearer token: " + message, event
    # Neither the token nor its signature is ever written down.
    signature = token.split(".")[-1]
    for text in (jwt_proxy.audit_text(), jwt_proxy.output):
        assert token not in text
        assert not signature or signature not in text


def test_user_of_a_genuine_token_is_audited(jwt_proxy, keys):
    token, _ = _no_role(keys)
    token_refusal(jwt_proxy, token)
    auth_event(jwt_proxy, "fail", "match no role", user="dana@acme", sqlstate="28000")


def test_oversized_token_is_refused(jwt_proxy):
    error = token_refusal(jwt_proxy, "a" * 20000)
    assert (error.code, error.text) == ("28P01", "token is longer than 16384 bytes")


# -- rotation -----------------------------------------------------------------------------------

def test_key_rotation_keeps_open_sessions(pg, keys, world, tmp_path):
    px = start_jwt_proxy(pg, tmp_path, {"rsa-1": keys["rsa-1"]})
    try:
        old_token = sign(keys["rsa-1"], "rsa-1", claims("acme"))
        session = token_connect(px, old_token)
        _, rows = run(session, "SELECT count(*) FROM customers")
        assert rows == [(3,)]

        rsa2 = rsa.generate_private_key(public_exponent=65537, key_size=2048)
        write_jwks(tmp_path / "jwks.json", {"rsa-2": rsa2})
        px.reload()

        # The session that logged in with the removed key keeps its principal.
        _, rows = run(session, "SELECT id, name FROM customers ORDER BY id")
        assert rows == [(c["id"], c["name"]) for c in world.customers_of("acme")]
        # New logins need the new key.
        error = token_refusal(px, old_token)
        assert (error.code, error.text) == (
            "28P01", 'token key id "rsa-1" is not in the policy\'s key set'), str(error)
        fresh = token_connect(px, sign(rsa2, "rsa-2", claims("globex")))
        try:
            _, rows = run(fresh, "SELECT count(*) FROM customers")
            assert rows == [(2,)]
        finally:
            fresh.close()
        session.close()
    finally:
        px.stop()


def test_key_file_change_alone_reloads(pg, keys, tmp_path):
    """The proxy watches the key set like the policy file: replacing jwks.json, with the policy
    file untouched and no signal, lets tokens of the new key in and keeps the old key's out."""
    px = start_jwt_proxy(pg, tmp_path, {"rsa-1": keys["rsa-1"]})
    try:
        policy_stat = (tmp_path / "policy.yaml").stat()
        old_token = sign(keys["rsa-1"], "rsa-1", claims("acme"))
        token_connect(px, old_token).close()
        rsa3 = rsa.generate_private_key(public_exponent=65537, key_size=2048)
        new_token = sign(rsa3, "rsa-3", claims("globex"))
        error = token_refusal(px, new_token)
        assert (error.code, error.text) == (
            "28P01", 'token key id "rsa-3" is not in the policy\'s key set'), str(error)

        write_jwks(tmp_path / "jwks.json", {"rsa-3": rsa3})
        wait_for(lambda: "policy reloaded (file changed)" in px.output, "the key set reload")
        fresh = token_connect(px, new_token)
        try:
            _, rows = run(fresh, "SELECT count(*) FROM customers")
            assert rows == [(2,)]
        finally:
            fresh.close()
        error = token_refusal(px, old_token)
        assert (error.code, error.text) == (
            "28P01", 'token key id "rsa-1" is not in the policy\'s key set'), str(error)
        after = (tmp_path / "policy.yaml").stat()
        assert (after.st_mtime_ns, after.st_ino) == (policy_stat.st_mtime_ns, policy_stat.st_ino)
        assert px.output.count("policy reloaded") == 1, px.output[-3000:]
    finally:
        px.stop()


def test_scram_verifier_rotation_keeps_open_sessions(pg, keys, tmp_path):
    text = harness.DEFAULT_POLICY.read_text() + JWT_SECTION
    px = start_jwt_proxy(pg, tmp_path, keys, policy_text=text)
    try:
        alice = px.connect("alice")
        verifier = subprocess.run([str(harness.proxy_binary()), "passwd"], input="alice-rotated\n",
                                  capture_output=True, text=True, check=True).stdout.strip()
        start = text.index('scram: "', text.index("- name: alice")) + len('scram: "')
        end = text.index('"', start)
        (tmp_path / "policy.yaml").write_text(text[:start] + verifier + text[end:])
        px.reload()
        _, rows = run(alice, "SELECT count(*) FROM customers")
        assert rows == [(3,)], "alice's open session was dropped by the verifier rotation"
        with pytest.raises(psycopg2.OperationalError) as info:
            px.connect("alice", "alice-secret").close()
        assert 'password authentication failed for user "alice"' in str(info.value)
        rotated = px.connect("alice", "alice-rotated")
        _, rows = run(rotated, "SELECT count(*) FROM customers")
        assert rows == [(3,)]
        rotated.close()
        alice.close()
    finally:
        px.stop()


ROTATE_ROLE = "tenantwall_rotate"


def test_backend_password_rotation(pg, keys, tmp_path):
    """backend.password_file is re-read on reload: open sessions keep their backend connection,
    new sessions log in to PostgreSQL with the new password."""
    first, second = "rotate-one-" + b64url(HMAC_SECRET[:9]), "rotate-two-" + b64url(HMAC_SECRET[9:18])
    with pg.superuser("app") as c:
        cur = c.cursor()
        cur.execute(f"DROP ROLE IF EXISTS {ROTATE_ROLE}")
        cur.execute(f"CREATE ROLE {ROTATE_ROLE} LOGIN NOSUPERUSER PASSWORD %s", (first,))
        cur.execute(f"GRANT USAGE ON SCHEMA public TO {ROTATE_ROLE}")
        cur.execute(f"GRANT SELECT ON ALL TABLES IN SCHEMA public TO {ROTATE_ROLE}")
    px = start_jwt_proxy(pg, tmp_path, keys, backend_user=ROTATE_ROLE,
                         backend_password_file=first)
    try:
        assert "password_file: backend.password" in px.config_text()
        open_session = token_connect(px, sign(keys["ec-1"], "ec-1", claims("acme")))
        with pg.superuser("app") as c:
            c.cursor().execute(f"ALTER ROLE {ROTATE_ROLE} PASSWORD %s", (second,))

        # Until the file changes and a reload happens, new sessions cannot reach PostgreSQL.
        with pytest.raises(psycopg2.OperationalError) as info:
            px.connect("bob").close()
        assert "tenantwall could not connect to the database" in str(info.value)
        assert first not in px.output and second not in px.output

        (px.tmp / "backend.password").write_text(second + "\n")
        px.reload()
        assert "backend password reloaded" in px.output
        _, rows = run(open_session, "SELECT count(*) FROM customers")
        assert rows == [(3,)], "the open session lost its backend connection"
        bob = px.connect("bob")
        _, rows = run(bob, "SELECT count(*) FROM customers")
        assert rows == [(2,)]
        bob.close()
        open_session.close()
        assert first not in px.output and second not in px.output
    finally:
        px.stop()
        with pg.superuser("app") as c:
            cur = c.cursor()
            cur.execute(f"REVOKE ALL ON ALL TABLES IN SCHEMA public FROM {ROTATE_ROLE}")
            cur.execute(f"REVOKE ALL ON SCHEMA public FROM {ROTATE_ROLE}")
            cur.execute(f"DROP ROLE {ROTATE_ROLE}")
