"""Attacks below SQL: startup parameters, forged cancel keys, lying message lengths, embedded
NULs, and protocol-level prepared statements, sent on raw sockets (tests/integration/wire.py)."""
import struct
import threading
import time

import psycopg2
import pytest

import harness
import wire
from support import ATTACKER, fail

OWN_CUSTOMERS = 4  # acme's three sample customers and the archived one (support.ARCHIVE_ROWS)


def login(proxy, user=ATTACKER):
    conn = wire.Conn("127.0.0.1", proxy.port)
    messages = wire.scram_login(conn, user, harness.USERS[user][0])
    keys = [struct.unpack("!II", p) for t, p in messages if t == b"K"]
    return conn, (keys[0] if keys else None)


def query_rows(conn, sql):
    return wire.simple_query(conn, sql)


def assert_serving(proxy, after):
    conn, _ = login(proxy)
    with conn:
        rows, error = query_rows(conn, "SELECT count(*), count(DISTINCT tenant_id) FROM customers")
    assert error is None and rows == [[str(OWN_CUSTOMERS), "1"]], \
        f"after {after}: the proxy serves {rows} {error}"


# --- startup parameters ------------------------------------------------------------------------

STARTUP_OPTIONS = [
    "-c row_security=off",
    "-c search_path=evil,public",
    "-c role=postgres",
    "-c session_authorization=postgres",
    "-c session_replication_role=replica",
    "-c standard_conforming_strings=off",
    "-c default_transaction_isolation=serializable -c search_path=pg_temp",
    "--search_path=evil",
]


@pytest.mark.parametrize("options", STARTUP_OPTIONS)
def test_startup_options_refused(proxy, options):
    """libpq's options (PGOPTIONS) would set backend GUCs before any SQL: refused at login."""
    with pytest.raises(psycopg2.OperationalError) as info:
        proxy.connect(ATTACKER, options=options).close()
    assert 'startup parameter "options" is not allowed' in str(info.value), str(info.value)


def not_allowed(name):
    return ("42501", f'startup parameter "{name}" is not allowed')


STARTUP_REFUSALS = [  # (extra startup parameters, database, SQLSTATE, message prefix)
    ({"replication": "database"}, "app", *not_allowed("replication")),
    ({"replication": "true"}, "app", *not_allowed("replication")),
    ({"search_path": "evil"}, "app", *not_allowed("search_path")),
    ({"row_security": "off"}, "app", *not_allowed("row_security")),
    ({"standard_conforming_strings": "off"}, "app", *not_allowed("standard_conforming_strings")),
    ({"role": "postgres"}, "app", *not_allowed("role")),
    ({"session_authorization": "postgres"}, "app", *not_allowed("session_authorization")),
    ({"_pq_.foo": "x"}, "app", *not_allowed("_pq_.foo")),
    ({"client_encoding": "SJIS"}, "app", "22023", 'client_encoding "SJIS" is not supported'),
    ({}, "postgres", "3D000", 'database "postgres" does not exist'),
    ({}, "app_truth", "3D000", 'database "app_truth" does not exist'),
    ({}, "template1", "3D000", 'database "template1" does not exist'),
    ({}, "app\0x", "08P01", "invalid startup packet layout"),
]


@pytest.mark.parametrize("params,database,code,prefix", STARTUP_REFUSALS,
                         ids=[f"{d}:{','.join(f'{k}={v}' for k, v in p.items())}"
                              for p, d, _, _ in STARTUP_REFUSALS])
def test_startup_parameters_refused(proxy, params, database, code, prefix):
    """Replication, other databases and pinned settings are refused before authentication."""
    with wire.Conn("127.0.0.1", proxy.port) as conn:
        conn.send(wire.startup_packet(ATTACKER, database, **params))
        tag, payload = conn.read()
        error = wire.parse_error(payload) if tag == b"E" else None
        assert error is not None and error.code == code and error.text.startswith(prefix), \
            f"startup {params} database={database!r}: got {tag!r} {error}, want {code} {prefix!r}"
        assert conn.is_closed(5), "the connection stays open after a FATAL startup error"


def test_superuser_name_cannot_log_in(proxy):
    with wire.Conn("127.0.0.1", proxy.port) as conn:
        with pytest.raises(wire.AuthFailed) as info:
            wire.scram_login(conn, "postgres", "postgres")
    assert info.value.error.code == "28P01", str(info.value)


def test_allowed_startup_parameters_keep_the_session_confined(proxy, hostile_world):
    conn = proxy.connect(ATTACKER, application_name="globex", client_encoding="UTF8")
    try:
        cur = conn.cursor()
        cur.execute("SELECT 'a\\b' AS s")  # standard_conforming_strings is on, as tenantwall parses
        assert cur.fetchone()[0] == "a\\b"
        cur.execute("SELECT id, tenant_id, name, ssn FROM customers")
        rows = cur.fetchall()
    finally:
        conn.close()
    for row in rows:
        for column, value in zip(("id", "tenant_id", "name", "ssn"), row):
            if (o := hostile_world.offence(column, value)):
                fail(ATTACKER, ["startup application_name=globex", "SELECT ... FROM customers"],
                     f"LEAK: {column} {o} in {row}")
    assert len(rows) == OWN_CUSTOMERS and {r[1] for r in rows} == {"acme"}, rows


# --- cancel keys ---------------------------------------------------------------------------------

LONG_QUERY = "SELECT count(*) FROM generate_series(1, 40000000)"


def cancel(proxy, pid, secret):
    with wire.Conn("127.0.0.1", proxy.port) as c:
        c.send(struct.pack("!IIII", 16, wire.CANCEL_REQUEST, pid, secret))
        c.is_closed(2)


def run_long_query_while(proxy, action):
    """Runs LONG_QUERY as alice on a raw session; calls action(key) while it runs; returns the
    query's (rows, error)."""
    conn, key = login(proxy)
    assert key is not None, "no BackendKeyData after login"
    result = {}

    def worker():
        conn.timeout = 60
        result["r"] = query_rows(conn, LONG_QUERY)

    t = threading.Thread(target=worker)
    t.start()
    time.sleep(0.5)
    action(key)
    result["running after the action"] = t.is_alive()
    t.join(90)
    conn.close()
    return (*result["r"], result["running after the action"])


def test_forged_cancel_keys_cancel_nothing(proxy):
    bob, bob_key = login(proxy, "bob")
    forged = []

    def forge(key):
        pid, secret = key
        for p, s in ((pid, secret ^ 1), (pid, 0), (pid, bob_key[1]), (bob_key[0], secret),
                     (pid + 1, secret), (0, 0)):
            forged.append((p, s))
            cancel(proxy, p, s)
        time.sleep(0.5)

    rows, error, running = run_long_query_while(proxy, forge)
    bob.close()
    assert running, "the query ended before the forged cancels were all sent: lengthen LONG_QUERY"
    if error is not None:
        pytest.fail(f"a CancelRequest with a forged key {forged} cancelled alice's query: {error}",
                    pytrace=False)
    assert rows == [["40000000"]], rows


def test_real_cancel_key_cancels(proxy):
    """The positive control: the key the proxy gave this session does cancel its query."""
    rows, error, _ = run_long_query_while(proxy, lambda key: cancel(proxy, *key))
    assert error is not None and error.code == "57014", (rows, error)


def test_cancel_key_is_not_the_backend_pid(proxy, pg):
    conn, key = login(proxy)
    with conn:
        backend_pids = {r[0] for r in pg.query("SELECT pid FROM pg_stat_activity")}
    assert key[0] not in backend_pids, "the proxy hands out PostgreSQL's own backend pid as the cancel key"


# --- message framing and desynchronisation --------------------------------------------------------

def test_embedded_nul_in_query_runs_nothing_after_it(proxy, pg, unchanged):
    conn, _ = login(proxy)
    with conn:
        payload = b"SELECT 1\0DELETE FROM orders\0"
        conn.send(wire.message(b"Q", payload))
        try:
            messages = conn.read_until(b"Z")
        except wire.Closed:
            messages = []
    errors = [wire.parse_error(p) for t, p in messages if t == b"E"]
    if errors:
        assert errors[0].code == "08P01", str(errors[0])
    unchanged("a Query with an embedded NUL")
    assert_serving(proxy, "an embedded NUL")


def test_message_inside_a_query_string_is_not_a_message(proxy, unchanged):
    """A Query whose length covers a second, smuggled message: the smuggled bytes are SQL text
    (a syntax error), never a statement of their own."""
    smuggled = wire.query_message("SELECT * FROM internal_audit")
    conn, _ = login(proxy)
    with conn:
        conn.send(wire.message(b"Q", b"SELECT 1;" + smuggled + b"\0"))
        messages = conn.read_until_closed()  # its length bytes hold NULs: 08P01 and close
    payloads = b"".join(p for _, p in messages)
    assert b"do not leak" not in payloads, messages
    errors = [wire.parse_error(p) for t, p in messages if t == b"E"]
    assert [e.code for e in errors] == ["08P01"] and not any(t == b"D" for t, _ in messages), messages
    unchanged("a smuggled message")
    assert_serving(proxy, "a smuggled message")


@pytest.mark.parametrize("sql", [
    b"SELECT name FROM customers WHERE name = '\xc0\xa7 OR tenant_id = \xc0\xa7globex'",  # overlong '
    b"SELECT name FROM customers WHERE name = '\xff'",
    b"SELECT name FROM customers WHERE name = 'x\xe3' OR tenant_id = 'globex' --'",  # eats a quote
    b"SELECT name FROM customers WHERE name = '\xed\xa0\x80'",  # UTF-16 surrogate
    b"SELECT * FROM internal_audit WHERE payload = '\x80'",
], ids=["overlong-quote", "ff", "truncated-before-quote", "surrogate", "unlisted"])
def test_invalid_utf8_is_22021(proxy, sql):
    """Sessions are UTF8: bytes that are not UTF-8 are PostgreSQL's 22021, whatever they hide."""
    conn, _ = login(proxy)
    with conn:
        conn.send(wire.message(b"Q", sql + b"\0"))
        messages = conn.read_until(b"Z")
    errors = [wire.parse_error(p) for t, p in messages if t == b"E"]
    assert not any(t == b"D" for t, _ in messages), messages
    assert len(errors) == 1 and errors[0].code == "22021" and \
        errors[0].text.startswith("invalid byte sequence for encoding"), [str(e) for e in errors]


@pytest.mark.parametrize("name,data", [
    ("length-too-short-for-payload", b"Q" + struct.pack("!I", 8) + b"SELECT * FROM internal_audit\0"),
    ("no-terminating-nul", wire.message(b"Q", b"SELECT * FROM internal_audit")),
    ("parse-length-lies", b"P" + struct.pack("!I", 6) + b"\0SELECT * FROM internal_audit\0\0\0"),
    ("bind-unknown-statement", wire.message(b"B", b"\0nosuch\0\0\0\0\0\0\0") + wire.message(b"S")),
    ("negative-parameter-count", wire.message(b"P", b"\0SELECT 1\0" + struct.pack("!h", -1))
     + wire.message(b"S")),
])
def test_lying_frames_are_refused(proxy, unchanged, name, data):
    conn, _ = login(proxy)
    with conn:
        conn.send(data)
        try:
            messages = conn.read_until(b"Z")
        except (wire.Closed, TimeoutError):
            messages = []
        if not messages:
            assert conn.is_closed(5), f"{name}: no answer and the connection stays open"
    assert b"do not leak" not in b"".join(p for _, p in messages), messages
    assert not any(t == b"D" for t, _ in messages), f"{name}: rows returned {messages}"
    unchanged(name)
    assert_serving(proxy, name)


# --- protocol-level prepared statements ----------------------------------------------------------

def parse(name, sql, types=()):
    return wire.message(b"P", name.encode() + b"\0" + sql.encode() + b"\0" +
                        struct.pack("!H", len(types)) + b"".join(struct.pack("!I", t) for t in types))


def bind(statement, params=(), formats=(), result_formats=()):
    body = b"\0" + statement.encode() + b"\0" + struct.pack("!H", len(formats))
    body += b"".join(struct.pack("!H", f) for f in formats)
    body += struct.pack("!H", len(params))
    for p in params:
        body += struct.pack("!i", -1) if p is None else struct.pack("!i", len(p)) + p
    body += struct.pack("!H", len(result_formats)) + b"".join(struct.pack("!H", f) for f in result_formats)
    return wire.message(b"B", body)


def describe(kind, name):
    return wire.message(b"D", kind + name.encode() + b"\0")


EXECUTE = wire.message(b"E", b"\0" + struct.pack("!i", 0))
SYNC = wire.message(b"S")


def extended(proxy, *msgs):
    conn, _ = login(proxy)
    with conn:
        conn.send(b"".join(msgs) + SYNC)
        return conn.read_until(b"Z")


def rows_and_errors(messages):
    rows, errors = [], []
    for tag, payload in messages:
        if tag == b"D":
            rows.append(wire.parse_data_row(payload))
        elif tag == b"E":
            errors.append(wire.parse_error(payload))
    return rows, errors


def assert_clean(secrets, sql, rows, typed=""):
    for row in rows:
        for v in row:
            if v is not None and (o := secrets.text_offence(v.decode("utf-8", "replace"), typed)):
                fail(ATTACKER, [sql], f"LEAK: {o}\n  leaked row: {row}")


@pytest.mark.parametrize("sql,params,code", [
    ("SELECT * FROM internal_audit", [], "42501"),
    ("SELECT * FROM customers WHERE tenant_id = 'globex'", [], "42501"),
    ("SELECT * FROM customers FOR UPDATE", [], "42501"),
    ("UPDATE customers SET tenant_id = $1 WHERE id = 1", [b"globex"], "42501"),
    ("SELECT set_config('row_security', $1, false)", [b"off"], "42501"),
    ("SELECT notes FROM customers", [], "42703"),
    ("SELECT query_to_xml($1, true, true, '')", [b"select * from internal_audit"], "42501"),
    ("SELECT 1; SELECT * FROM internal_audit", [], "42501"),
], ids=lambda v: v if isinstance(v, str) else None)
def test_extended_protocol_refusals(proxy, unchanged, hostile_world, sql, params, code):
    messages = extended(proxy, parse("", sql), bind("", params), EXECUTE)
    rows, errors = rows_and_errors(messages)
    assert rows == [] and errors and errors[0].code == code, \
        f"as {ATTACKER}: {sql} {params}: rows {rows}, errors {[str(e) for e in errors]}, want {code}"
    unchanged(sql)


@pytest.mark.parametrize("sql,params", [
    ("SELECT id, tenant_id, name, email, phone, ssn FROM customers WHERE tenant_id = $1", [b"globex"]),
    ("SELECT id, tenant_id, name, ssn FROM customers WHERE id = $1", [b"4"]),
    ("SELECT name, ssn FROM customers WHERE ssn = $1", [b"123-45-6789"]),
    ("SELECT * FROM orders WHERE customer_id = ANY($1::int[])", [b"{4,5}"]),
    ("SELECT name FROM customers WHERE name = $1 OR $2", [b"x", b"true"]),
    ("SELECT $1::text, name FROM customers", [b"x' OR tenant_id = 'globex"]),
])
def test_extended_protocol_parameters_cannot_widen(proxy, hostile_world, sql, params):
    """Parameters are values, never SQL or tenant switches: the rows stay acme's, masked."""
    messages = extended(proxy, parse("", sql), bind("", params), EXECUTE)
    rows, errors = rows_and_errors(messages)
    if errors:
        assert errors[0].code == "42501", f"{sql}: {errors[0]}"
    assert_clean(hostile_world, sql, rows, typed=" ".join(p.decode() for p in params))
    if "ssn = $1" in sql or "id = $1" in sql or "tenant_id = $1" in sql or "ANY" in sql:
        assert rows == [], f"{sql} {params}: rows {rows}"


def test_binary_results_are_masked(proxy, hostile_world):
    sql = "SELECT name, email, phone, ssn FROM customers"
    rows, errors = rows_and_errors(extended(proxy, parse("", sql), bind("", [], result_formats=[1]), EXECUTE))
    assert not errors, errors
    assert_clean(hostile_world, sql, rows)
    assert sorted(r[3] for r in rows) == [b"***-**-3333", b"***-**-6789", b"***-**-7890", b"***-**-8901"], rows


def test_describe_does_not_reveal_hidden_columns(proxy):
    messages = extended(proxy, parse("s1", "SELECT * FROM customers"), describe(b"S", "s1"))
    names = []
    for tag, payload in messages:
        if tag == b"T":
            (n,) = struct.unpack("!H", payload[:2])
            pos = 2
            for _ in range(n):
                end = payload.index(b"\0", pos)
                names.append(payload[pos:end].decode())
                pos = end + 1 + 18
    assert names == ["id", "tenant_id", "name", "email", "phone", "ssn"], names


def test_named_statement_of_one_session_is_not_another_sessions(proxy):
    """A statement prepared by alice cannot be bound by bob's session (and vice versa)."""
    a, _ = login(proxy)
    with a:
        a.send(parse("shared", "SELECT name FROM customers") + SYNC)
        a.read_until(b"Z")
        b, _ = login(proxy, "bob")
        with b:
            b.send(bind("shared") + EXECUTE + SYNC)
            rows, errors = rows_and_errors(b.read_until(b"Z"))
    assert rows == [] and errors and errors[0].code == "26000", (rows, [str(e) for e in errors])


def test_sql_execute_of_protocol_statement(proxy, hostile_world):
    """A protocol-level statement is not reachable by SQL EXECUTE with other parameters."""
    conn, _ = login(proxy)
    with conn:
        conn.send(parse("p1", "SELECT name FROM customers WHERE id = $1", [23]) + SYNC)
        conn.read_until(b"Z")
        rows, error = query_rows(conn, "EXECUTE p1(4)")
    assert rows == [] or error is not None
    for row in rows:
        assert not hostile_world.text_offence(" ".join(v or "" for v in row)), row
