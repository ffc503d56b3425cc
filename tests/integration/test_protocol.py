"""Raw extended-protocol sequences through the proxy, with the exact replies checked: pipelines,
a refusal mid-pipeline (skip to Sync, as PostgreSQL does), names this session never created,
row limits, and hostile statement names."""
import struct

import pytest

import wire


def parse(name, sql, types=()):
    return wire.message(b"P", name.encode() + b"\0" + sql.encode() + b"\0" +
                        struct.pack("!H", len(types)) + b"".join(struct.pack("!I", t) for t in types))


def bind(portal, statement, params=(), result_formats=()):
    body = portal.encode() + b"\0" + statement.encode() + b"\0" + struct.pack("!H", 0)
    body += struct.pack("!H", len(params))
    for p in params:
        body += struct.pack("!i", len(p)) + p
    body += struct.pack("!H", len(result_formats)) + b"".join(struct.pack("!H", f) for f in result_formats)
    return wire.message(b"B", body)


def describe(kind, name):
    return wire.message(b"D", kind + name.encode() + b"\0")


def execute(portal, max_rows=0):
    return wire.message(b"E", portal.encode() + b"\0" + struct.pack("!i", max_rows))


def close(kind, name):
    return wire.message(b"C", kind + name.encode() + b"\0")


SYNC = wire.message(b"S")


def data_rows(replies):
    return [wire.parse_data_row(payload) for tag, payload in replies if tag == b"D"]


def tags(replies):
    return b"".join(tag for tag, _ in replies)


@pytest.fixture
def session(proxy):
    conn = wire.Conn("127.0.0.1", proxy.port)
    wire.scram_login(conn, "alice", "alice-secret")
    yield conn
    conn.close()


def test_pipeline_of_two_groups_and_one_sync(session):
    session.send(parse("", "SELECT name, ssn FROM customers WHERE id = $1", [23]) +
                 bind("", "", [b"1"]) + describe(b"P", "") + execute("") +
                 parse("", "SELECT count(*) FROM orders") + bind("", "") + execute("") + SYNC)
    replies = session.read_until(b"Z")
    assert tags(replies) == b"12TDC12DCZ", tags(replies)
    rows = data_rows(replies)
    assert rows == [[b"Alice Anders", b"***-**-6789"], [b"3"]], rows


def test_refusal_mid_pipeline_skips_to_sync(session):
    session.send(parse("", "SELECT name FROM customers WHERE id = 1") + bind("", "") + execute("") +
                 parse("", "SELECT * FROM internal_audit") + bind("", "") + execute("") +
                 parse("", "SELECT 42") + bind("", "") + execute("") + SYNC)
    replies = session.read_until(b"Z")
    assert tags(replies) == b"12DCEZ", tags(replies)  # nothing after the error until Sync
    error = wire.parse_error(dict(replies)[b"E"])
    assert error.code == "42501", error
    assert data_rows(replies) == [[b"Alice Anders"]]
    assert replies[-1][1] == b"I"
    # The session goes on normally after Sync.
    rows, err = wire.simple_query(session, "SELECT count(*) FROM customers")
    assert err is None and rows == [["3"]], (rows, err)


def test_names_this_session_never_created(session):
    for messages, code in ((bind("", "nosuch"), "26000"), (describe(b"S", "nosuch"), "26000"),
                           (describe(b"P", "nosuch"), "34000"), (execute("nosuch"), "34000")):
        session.send(messages + SYNC)
        replies = session.read_until(b"Z")
        assert tags(replies) == b"EZ", tags(replies)
        assert wire.parse_error(replies[0][1]).code == code


def test_named_statement_reuse_close_then_gone(session):
    session.send(parse("byid", "SELECT name FROM customers WHERE id = $1", [23]) + SYNC)
    assert tags(session.read_until(b"Z")) == b"1Z"
    for cid, want in ((b"2", [[b"Arthur Abbott"]]), (b"5", [])):  # 5 is globex's: invisible
        session.send(bind("", "byid", [cid]) + execute("") + SYNC)
        assert data_rows(session.read_until(b"Z")) == want
    session.send(close(b"S", "byid") + SYNC)
    assert tags(session.read_until(b"Z")) == b"3Z"
    session.send(bind("", "byid", [b"2"]) + SYNC)
    replies = session.read_until(b"Z")
    assert wire.parse_error(replies[0][1]).code == "26000"


def test_row_limit_suspends_the_portal(session):
    session.send(parse("", "SELECT id FROM customers ORDER BY id") + bind("p1", "") +
                 execute("p1", 2) + execute("p1", 0) + SYNC)
    replies = session.read_until(b"Z")
    assert tags(replies) == b"12DDsDCZ", tags(replies)
    assert data_rows(replies) == [[b"1"], [b"2"], [b"3"]]


def test_binary_results(session):
    session.send(parse("", "SELECT id FROM customers WHERE id = $1", [23]) +
                 bind("", "", [b"3"], result_formats=[1]) + execute("") + SYNC)
    rows = data_rows(session.read_until(b"Z"))
    assert rows == [[struct.pack("!i", 3)]], rows


@pytest.mark.parametrize("name", ["x" * 200, "naïve statement", 'quo"te\'s', "tw_refusal"])
def test_hostile_statement_names(session, name):
    session.send(parse(name, "SELECT 1") + bind("", name) + execute("") + SYNC)
    replies = session.read_until(b"Z")
    assert b"E" not in tags(replies) or wire.parse_error(dict(replies)[b"E"]).code in ("42P05", "26000")
    rows, err = wire.simple_query(session, "SELECT 7")
    assert err is None and rows == [["7"]]
