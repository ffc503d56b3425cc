"""Client authentication at the proxy: SCRAM-SHA-256 against the policy's verifiers, no user
enumeration, and the answer to SSLRequest ('N': no TLS yet)."""
import psycopg2
import pytest

import wire
from checks import run


def connect_error(proxy, user, password, **kw) -> str:
    with pytest.raises(psycopg2.OperationalError) as info:
        proxy.connect(user, password, **kw).close()
    return str(info.value)


@pytest.mark.parametrize("user,tenant_count", [("alice", 3), ("carol", 3), ("bob", 2)])
def test_correct_password_works(connect, user, tenant_count):
    _, rows = run(connect(user), "SELECT count(*) FROM customers")
    assert rows == [(tenant_count,)], f"as {user}: {rows}"


@pytest.mark.parametrize("user,password", [
    ("alice", "wrong"),
    ("alice", "bob-secret"),  # another user's password
    ("alice", "alice-secret "),
    ("bob", "BOB-SECRET"),
])
def test_wrong_password_fails(proxy, user, password):
    message = connect_error(proxy, user, password)
    assert f'password authentication failed for user "{user}"' in message, (
        f"as {user} with password {password!r}: {message}")


def test_empty_password_fails(proxy):
    # libpq itself refuses to send an empty password; the proxy must not have let it in before.
    message = connect_error(proxy, "bob", "")
    assert "no password supplied" in message or "password authentication failed" in message, message


def test_wrong_password_sqlstate(proxy):
    with wire.Conn("127.0.0.1", proxy.port) as conn:
        with pytest.raises(wire.AuthFailed) as info:
            wire.scram_login(conn, "alice", "wrong")
        assert info.value.error.code == "28P01", f"wrong password: {info.value}"
        assert info.value.stage == "client-final", f"refused at {info.value.stage}, not after the proof"
        assert conn.is_closed(), "the proxy kept the connection open after a failed login"


def test_correct_password_sqlstate_path(proxy):
    """Our own SCRAM client also verifies the server signature: the proxy proves it knows the verifier."""
    with wire.Conn("127.0.0.1", proxy.port) as conn:
        messages = wire.scram_login(conn, "bob", "bob-secret")
        assert messages[-1][0] == b"Z", messages
        rows, error = wire.simple_query(conn, "SELECT count(*) FROM customers")
        assert error is None and rows == [["2"]], (rows, error)


@pytest.mark.parametrize("user", ["mallory", "postgres", "tenantwall_service", "Alice", "alice "])
def test_unknown_user_is_indistinguishable(proxy, user):
    """An unknown user gets the same SCRAM exchange and the same error as a wrong password."""
    known = connect_error(proxy, "alice", "wrong")
    unknown = connect_error(proxy, user, "wrong")
    assert unknown.replace(f'"{user}"', '"X"') == known.replace('"alice"', '"X"'), (
        f"unknown user {user!r} answered {unknown!r}, a known user with a wrong password "
        f"answered {known!r}: user names can be enumerated")
    with wire.Conn("127.0.0.1", proxy.port) as conn:
        with pytest.raises(wire.AuthFailed) as info:
            wire.scram_login(conn, user, "wrong")
        assert info.value.stage == "client-final", (
            f"unknown user {user!r} refused at {info.value.stage}: the exchange differs from a "
            f"known user's")
        assert info.value.error.code == "28P01", f"unknown user {user!r}: {info.value}"


def test_backend_service_password_is_not_a_client_password(proxy, pg):
    message = connect_error(proxy, "tenantwall_service", pg.service_password)
    assert "password authentication failed" in message, message


def test_unknown_user_same_salt_each_time(proxy):
    """A fake verifier for an unknown user is stable, as a real one would be (a fresh random salt
    per attempt would tell an attacker the user does not exist)."""
    salts = []
    for _ in range(2):
        with wire.Conn("127.0.0.1", proxy.port) as conn:
            conn.send(wire.startup_packet("mallory"))
            tag, payload = conn.read()
            assert tag == b"R" and wire.auth_request(payload)[0] == 10, (tag, payload)
            first = b"n,,n=,r=abcdefghijklmnop"
            conn.send(wire.message(b"p", b"SCRAM-SHA-256\0" + len(first).to_bytes(4, "big") + first))
            tag, payload = conn.read()
            assert tag == b"R" and wire.auth_request(payload)[0] == 11, (tag, payload)
            attrs = dict(kv.split("=", 1) for kv in payload[4:].decode().split(","))
            salts.append((attrs["s"], attrs["i"]))
    assert salts[0] == salts[1], f"unknown user got different salts: {salts}"


def test_psql_wrong_password(proxy):
    r = proxy.psql("SELECT 1", user="alice", password="nope")
    assert r.rc != 0, str(r)
    assert 'password authentication failed for user "alice"' in r.stderr, str(r)
    r2 = proxy.psql("SELECT 1", user="nobody", password="nope")
    assert r2.rc != 0 and 'password authentication failed for user "nobody"' in r2.stderr, str(r2)


def test_sslmode_require_fails_cleanly(proxy):
    message = connect_error(proxy, "alice", "alice-secret", sslmode="require")
    assert "server does not support SSL" in message, message
    _, rows = run(proxy.connect("alice"), "SELECT count(*) FROM customers")
    assert rows == [(3,)], "the proxy does not accept connections after an SSL attempt"


def test_ssl_request_answered_n(proxy):
    with wire.Conn("127.0.0.1", proxy.port) as conn:
        conn.send((8).to_bytes(4, "big") + wire.SSL_REQUEST.to_bytes(4, "big"))
        assert conn.read_byte() == b"N"
        # a plaintext startup on the same connection then proceeds as usual
        wire.scram_login(conn, "alice", "alice-secret")
        rows, error = wire.simple_query(conn, "SELECT count(*) FROM customers")
        assert error is None and rows == [["3"]], (rows, error)


def test_sslmode_prefer_falls_back(proxy):
    conn = proxy.connect("bob", sslmode="prefer")
    try:
        _, rows = run(conn, "SELECT count(*) FROM customers")
        assert rows == [(2,)], rows
        assert not conn.info.ssl_in_use
    finally:
        conn.close()


def test_psql_sslmode_prefer(proxy):
    r = proxy.psql("SELECT count(*) FROM customers", user="carol", sslmode="prefer")
    assert r.rc == 0 and r.stdout.strip() == "3", str(r)


def test_startup_options_do_not_change_the_session(proxy, world):
    """Settings sent in the startup packet (search_path, role) are refused or ignored: they never
    change whose rows a session sees."""
    try:
        conn = proxy.connect("bob", options="-c search_path=pg_catalog -c role=postgres")
    except psycopg2.OperationalError as e:
        assert "password authentication failed" not in str(e), str(e)
        return  # refused at startup: fine (DESIGN 5)
    try:
        columns, rows = run(conn, "SELECT id, tenant_id, name FROM customers")
        assert sorted(rows) == sorted((c["id"], c["tenant_id"], c["name"])
                                      for c in world.customers_of("globex")), rows
    finally:
        conn.close()


# -- backend authentication: the proxy as a client of PostgreSQL --------------------------------

def test_md5_backend_user(start_proxy, world):
    """A second proxy whose service role authenticates to PostgreSQL with md5."""
    px = start_proxy(backend_user="tenantwall_md5")
    conn = px.connect("alice")
    try:
        _, rows = run(conn, "SELECT id, name FROM customers ORDER BY id")
    finally:
        conn.close()
    want = [(c["id"], c["name"]) for c in world.customers_of("acme")]
    assert rows == want, f"through the md5 backend: {rows}, want {want}"


def test_backend_password_from_environment(start_proxy):
    """TENANTWALL_BACKEND_PASSWORD replaces backend.password (here absent from the file)."""
    px = start_proxy(password_via_env=True)
    assert "password" not in px.config_text().split("backend:")[1].split("policy:")[0]
    conn = px.connect("bob")
    try:
        _, rows = run(conn, "SELECT count(*) FROM customers")
    finally:
        conn.close()
    assert rows == [(2,)], rows


def test_wrong_backend_password_serves_nothing(pg, world):
    """With a wrong service password the proxy either refuses to start or answers with errors;
    it never serves rows and never reveals the backend's credentials."""
    import harness
    px = harness.Proxy(pg, backend_password="wrong-password")
    try:
        try:
            px.start()
        except harness.HarnessError:
            return  # refused to start: fine
        try:
            conn = px.connect("alice")
        except psycopg2.OperationalError as e:
            assert pg.service_password not in str(e)
            return
        try:
            with pytest.raises(psycopg2.Error) as info:
                run(conn, "SELECT * FROM customers")
            assert pg.service_password not in str(info.value)
        finally:
            conn.close()
    finally:
        px.stop()
