"""The extended query protocol and the other raw protocol paths, byte for byte, through the real
proxy (test_protocol.py has the short tour; this is the exhaustive one): the exact reply sequence
of Parse/Bind/Describe/Execute/Sync with masked, tenant-scoped rows, pipelines, errors mid-
pipeline and inside transactions, statement and portal ownership, row limits, binary formats,
refused and unknown messages, hostile statement names, cancel requests and their keys, and the
same conversations run straight against PostgreSQL to show the proxy answers as it would.
See PostgreSQL documentation, 55.2.3 "Extended Query" and 55.7 "Message Formats".
"""
from __future__ import annotations

import decimal
import socket
import struct
import threading
import time
from dataclasses import dataclass, field

import pytest

import wire
from checks import assert_no_leak, mask_email, mask_phone, mask_ssn, tenant_of
from harness import SERVICE_ROLE, USERS

INT4, TEXT, INT8, NUMERIC = 23, 25, 20, 1700
CUSTOMER_SQL = "SELECT id, tenant_id, name, email, phone, ssn FROM customers WHERE id <= $1 ORDER BY id"
# Slow but allowed: about 30 s of work on this kind of machine, so only a cancel ends it early.
SLOW_SQL = "SELECT count(*) FROM generate_series(1, {n})"


# -- messages the client sends (55.7) ----------------------------------------------------------

def cstr(s: str | bytes) -> bytes:
    return (s if isinstance(s, bytes) else s.encode()) + b"\0"


def parse(name: str | bytes, sql: str, oids=()) -> bytes:
    return wire.message(b"P", cstr(name) + cstr(sql) + struct.pack("!h", len(oids)) +
                        b"".join(struct.pack("!I", o) for o in oids))


def bind(portal: str | bytes = "", statement: str | bytes = "", params=(), param_formats=(),
         result_formats=()) -> bytes:
    body = cstr(portal) + cstr(statement)
    body += struct.pack("!h", len(param_formats)) + b"".join(struct.pack("!h", f) for f in param_formats)
    body += struct.pack("!h", len(params))
    for p in params:
        if p is None:
            body += struct.pack("!i", -1)
        else:
            raw = p if isinstance(p, bytes) else str(p).encode()
            body += struct.pack("!i", len(raw)) + raw
    body += struct.pack("!h", len(result_formats)) + b"".join(struct.pack("!h", f) for f in result_formats)
    return wire.message(b"B", body)


def describe(kind: str, name: str | bytes = "") -> bytes:
    return wire.message(b"D", kind.encode() + cstr(name))


def execute(portal: str | bytes = "", max_rows: int = 0) -> bytes:
    return wire.message(b"E", cstr(portal) + struct.pack("!i", max_rows))


def close(kind: str, name: str | bytes = "") -> bytes:
    return wire.message(b"C", kind.encode() + cstr(name))


SYNC = wire.message(b"S")
FLUSH = wire.message(b"H")


# -- what comes back -----------------------------------------------------------------------------

@dataclass
class Column:
    name: str
    table_oid: int
    attnum: int
    type_oid: int
    type_len: int
    typmod: int
    fmt: int


def row_description(payload: bytes) -> list[Column]:
    (n,) = struct.unpack("!h", payload[:2])
    pos, cols = 2, []
    for _ in range(n):
        end = payload.index(b"\0", pos)
        name = payload[pos:end].decode()
        pos = end + 1
        cols.append(Column(name, *struct.unpack("!IhIhih", payload[pos:pos + 18])))
        pos += 18
    return cols


def data_row(payload: bytes) -> list[bytes | None]:
    (n,) = struct.unpack("!h", payload[:2])
    pos, out = 2, []
    for _ in range(n):
        (length,) = struct.unpack("!i", payload[pos:pos + 4])
        pos += 4
        if length < 0:
            out.append(None)
        else:
            out.append(payload[pos:pos + length])
            pos += length
    return out


def typed(column: Column, raw: bytes | None):
    """A text-format value as Python, so checks.Forbidden can judge ids and amounts."""
    if raw is None or column.fmt != 0:
        return raw
    s = raw.decode()
    if column.type_oid in (INT4, INT8, 21):
        return int(s)
    if column.type_oid == NUMERIC:
        return decimal.Decimal(s)
    return s


@dataclass
class Reply:
    """Everything the proxy answered, in order, with the pieces decoded."""
    messages: list[tuple[bytes, bytes]]
    columns: list[Column] = field(default_factory=list)  # the last RowDescription

    @property
    def tags(self) -> str:
        return "".join(t.decode() for t, _ in self.messages)

    @property
    def errors(self) -> list[wire.Error]:
        return [wire.parse_error(p) for t, p in self.messages if t == b"E"]

    @property
    def codes(self) -> list[str]:
        return [e.code for e in self.errors]

    @property
    def ready(self) -> str:
        status = [p.decode() for t, p in self.messages if t == b"Z"]
        return status[-1] if status else ""

    def raw_rows(self) -> list[list[bytes | None]]:
        return [data_row(p) for t, p in self.messages if t == b"D"]

    def rows(self) -> list[tuple]:
        """DataRows decoded with the RowDescription that precedes each."""
        out, cols = [], []
        for t, p in self.messages:
            if t == b"T":
                cols = row_description(p)
            elif t == b"D":
                values = data_row(p)
                out.append(tuple(typed(c, v) for c, v in zip(cols, values)) if cols else
                           tuple(None if v is None else v.decode() for v in values))
        return out

    def completions(self) -> list[str]:
        return [p.rstrip(b"\0").decode() for t, p in self.messages if t == b"C"]

    def __str__(self) -> str:
        parts = []
        for t, p in self.messages:
            if t == b"E":
                parts.append(f"E[{wire.parse_error(p)}]")
            elif t == b"D":
                parts.append(f"D{data_row(p)}")
            elif t in (b"C", b"Z"):
                parts.append(f"{t.decode()}[{p.rstrip(bytes(1)).decode()}]")
            else:
                parts.append(t.decode())
        return " ".join(parts)


class Session:
    """One logged-in raw connection through the proxy."""

    def __init__(self, proxy, user: str = "alice", timeout: float = 10.0):
        self.user = user
        self.conn = wire.Conn("127.0.0.1", proxy.port, timeout=timeout)
        startup = wire.scram_login(self.conn, user, USERS[user][0])
        keys = [p for t, p in startup if t == b"K"]
        assert len(keys) == 1, f"as {user}: expected one BackendKeyData, got {startup!r}"
        self.pid, self.key = struct.unpack("!ii", keys[0])

    def close(self) -> None:
        try:
            self.conn.send(wire.message(b"X"))
        except OSError:
            pass
        self.conn.close()

    def __enter__(self):
        return self

    def __exit__(self, *exc):
        self.close()
        return False

    def send(self, *messages: bytes) -> None:
        self.conn.send(b"".join(messages))

    def until_ready(self) -> Reply:
        return Reply(self.conn.read_until(b"Z"))

    def run(self, *messages: bytes) -> Reply:
        """Sends the messages (the caller ends them with Sync or a Query) and reads to ReadyForQuery."""
        self.send(*messages)
        return self.until_ready()

    def query(self, sql: str) -> Reply:
        return self.run(wire.query_message(sql))

    def extended(self, sql: str, params=(), oids=()) -> Reply:
        return self.run(parse("", sql, oids), bind("", "", params), describe("P"), execute(), SYNC)

    def assert_alive(self, what: str) -> None:
        """The session still answers a scoped query with exactly its own tenant's rows."""
        tenant = tenant_of(self.user)
        r = self.extended("SELECT tenant_id, count(*) FROM customers GROUP BY tenant_id")
        assert r.tags == "12TDCZ" and r.ready == "I", f"as {self.user} after {what}: {r}"
        assert [row[0] for row in r.rows()] == [tenant], f"as {self.user} after {what}: {r}"


def masked_customers(world, tenant: str, max_id: int = 10 ** 9) -> list[tuple]:
    return [(c["id"], c["tenant_id"], c["name"], mask_email(c["email"]), mask_phone(c["phone"]),
             mask_ssn(c["ssn"])) for c in world.customers_of(tenant) if c["id"] <= max_id]


def expect(reply: Reply, tags: str, user: str, sql: str, ready: str = "I") -> None:
    assert reply.tags == tags and reply.ready == ready, (
        f"as {user}: wrong reply sequence\n  query: {sql}\n  want: {tags} (ready {ready})\n"
        f"  got:  {reply.tags}\n  {reply}")


def expect_rows(world, user: str, sql: str, reply: Reply, want: list[tuple]) -> None:
    got = reply.rows()
    cols = [c.name for c in reply.columns] or ["id", "tenant_id", "name", "email", "phone", "ssn"]
    assert_no_leak(world, user, sql, cols, got)
    assert got == want, (f"as {user} (tenant {tenant_of(user)}): wrong rows\n  query: {sql}\n"
                         f"  got:  {got}\n  want: {want}")


@pytest.fixture
def alice(proxy):
    with Session(proxy, "alice") as s:
        yield s


@pytest.fixture
def bob(proxy):
    with Session(proxy, "bob") as s:
        yield s


# -- the happy path, exactly ---------------------------------------------------------------------

@pytest.mark.parametrize("user", ["alice", "bob"])
def test_parse_bind_describe_execute_sync(proxy, world, user):
    with Session(proxy, user) as s:
        r = s.run(parse("s1", CUSTOMER_SQL, [INT4]), bind("p1", "s1", ["5"]), describe("S", "s1"),
                  describe("P", "p1"), execute("p1"), SYNC)
        want = masked_customers(world, tenant_of(user), 5)
        expect(r, "12tTT" + "D" * len(want) + "CZ", user, CUSTOMER_SQL)
        params = [p for t, p in r.messages if t == b"t"][0]
        assert params == struct.pack("!hI", 1, INT4), f"ParameterDescription: {params!r}"
        descriptions = [row_description(p) for t, p in r.messages if t == b"T"]
        for cols in descriptions:
            assert [c.name for c in cols] == ["id", "tenant_id", "name", "email", "phone", "ssn"], cols
            by_name = {c.name: c for c in cols}
            assert by_name["id"].type_oid == INT4, cols
            for masked in ("email", "phone", "ssn"):
                assert by_name[masked].type_oid == TEXT, f"masked column {masked} is not text: {cols}"
            assert all(c.fmt == 0 for c in cols), cols
        r.columns = descriptions[-1]
        expect_rows(world, user, CUSTOMER_SQL, r, want)
        assert r.completions() == [f"SELECT {len(want)}"], str(r)


def test_pipeline_two_groups_one_sync(alice, world, pg):
    q1 = "SELECT name, ssn FROM customers ORDER BY id"
    q2 = "SELECT id, customer_id, amount FROM orders ORDER BY id"
    r = alice.run(parse("", q1), bind(), execute(), parse("", q2), bind(), execute(), SYNC)
    _, want1 = pg.truth("acme", q1)
    _, want2 = pg.truth("acme", q2)
    expect(r, "12" + "D" * len(want1) + "C" + "12" + "D" * len(want2) + "CZ", "alice", f"{q1}; {q2}")
    rows = r.raw_rows()
    got1 = [(n.decode(), s.decode()) for n, s in rows[:len(want1)]]
    got2 = [(int(i), int(c), decimal.Decimal(a.decode())) for i, c, a in rows[len(want1):]]
    assert got1 == want1, f"as alice, query {q1}: got {got1}, want {want1}"
    assert got2 == want2, f"as alice, query {q2}: got {got2}, want {want2}"
    assert_no_leak(world, "alice", q1, ["name", "ssn"], got1)
    assert_no_leak(world, "alice", q2, ["id", "customer_id", "amount"], got2)


@pytest.mark.parametrize("refused,codes", [
    ("SELECT * FROM internal_audit", ["42501"]),
    ("SELECT * FROM customers WHERE tenant_id = 'globex'", ["42501"]),
    # The fenced relation has no hidden column: PostgreSQL itself answers (test_masking.py).
    ("SELECT notes FROM customers", ["42703"]),
])
def test_error_mid_pipeline_skips_to_sync(alice, world, refused, codes):
    q1 = "SELECT id, name FROM customers ORDER BY id"
    q3 = "SELECT count(*) FROM orders"
    r = alice.run(parse("", q1), bind(), execute(),
                  parse("", refused), bind(), describe("P"), execute(),
                  parse("", q3), bind(), execute(), SYNC)
    n = len(world.customers_of("acme"))
    expect(r, "12" + "D" * n + "CEZ", "alice", f"{q1}; {refused}; {q3}")
    assert r.codes == codes, f"as alice, refused Parse of {refused!r}: {r}"
    assert "tw_refus" not in str(r), f"the refusal marker leaked to the client: {r}"
    got = [(int(i), nm.decode()) for i, nm in r.raw_rows()]
    assert got == [(c["id"], c["name"]) for c in world.customers_of("acme")], got
    alice.assert_alive(f"refused {refused!r} mid-pipeline")


def test_error_mid_pipeline_from_postgres_itself(alice):
    """A run-time error of an allowed statement skips to Sync the same way."""
    sql = "SELECT 1 / (id - id) FROM customers"  # not constant-folded: fails in Execute
    r = alice.run(parse("", sql), bind(), execute(), parse("", "SELECT 1"), bind(), execute(), SYNC)
    expect(r, "12EZ", "alice", sql)
    assert r.codes == ["22012"], str(r)
    alice.assert_alive("a division by zero mid-pipeline")


def test_rows_then_an_error_in_one_answer(alice):
    """PostgreSQL sends the rows it made before the error. About 600 kB of rows arrive over many
    reads: the reads holding only rows go out straight from the proxy's read buffer, the last
    one holds rows, then the error and ReadyForQuery; all of it arrives whole and in order."""
    sql = "SELECT n, repeat('x', 200), 12 / (2500 - n) FROM generate_series(1, 3000) n"
    want = [[str(n).encode(), b"x" * 200, str(12 // (2500 - n)).encode()] for n in range(1, 2500)]
    r = alice.run(parse("", sql), bind(), execute(), SYNC)
    expect(r, "12" + "D" * len(want) + "EZ", "alice", sql)
    assert r.raw_rows() == want, "rows before the error differ"
    assert r.codes == ["22012"], str(r)
    r = alice.query(sql)
    expect(r, "T" + "D" * len(want) + "EZ", "alice", sql)
    assert r.raw_rows() == want, "rows before the error differ (simple protocol)"
    alice.assert_alive("rows, then a division by zero")


def test_flush_delivers_before_sync(alice):
    alice.send(parse("", "SELECT name FROM customers WHERE id = 1"), bind(), execute(), FLUSH)
    got = Reply(alice.conn.read_until(b"C"))
    assert got.tags == "12DC", f"after Flush (no Sync yet): {got}"
    assert got.raw_rows() == [[b"Alice Anders"]], str(got)
    r = alice.run(SYNC)
    expect(r, "Z", "alice", "Sync after Flush")


# -- transactions -------------------------------------------------------------------------------

@pytest.mark.parametrize("refused", [
    "SELECT payload FROM internal_audit",
    "SELECT * FROM customers WHERE tenant_id = 'globex'",
])
def test_refusal_inside_begin_aborts_until_rollback(alice, world, refused):
    expect(alice.query("BEGIN"), "CZ", "alice", "BEGIN", ready="T")
    ok = alice.extended("SELECT name FROM customers ORDER BY id")
    expect(ok, "12TDDDCZ", "alice", "SELECT name FROM customers", ready="T")
    r = alice.run(parse("", refused), bind(), execute(), SYNC)
    expect(r, "EZ", "alice", refused, ready="E")
    assert r.codes == ["42501"], f"as alice in BEGIN, {refused!r}: {r}"
    for later in ("SELECT 1", "SELECT name FROM customers"):
        r = alice.extended(later)
        expect(r, "EZ", "alice", later, ready="E")
        assert r.codes == ["25P02"], f"as alice, {later!r} after a refusal in BEGIN: {r}"
        r = alice.query(later)
        expect(r, "EZ", "alice", later, ready="E")
        assert r.codes == ["25P02"], f"as alice, simple {later!r} after a refusal in BEGIN: {r}"
    r = alice.query("COMMIT")  # a COMMIT of an aborted transaction rolls back
    assert r.completions() == ["ROLLBACK"] and r.ready == "I", f"COMMIT after refusal: {r}"
    alice.assert_alive("a refusal inside BEGIN")


def test_simple_refusal_inside_begin_then_rollback(alice):
    expect(alice.query("BEGIN"), "CZ", "alice", "BEGIN", ready="T")
    r = alice.query("SELECT * FROM internal_audit")
    expect(r, "EZ", "alice", "SELECT * FROM internal_audit", ready="E")
    assert r.codes == ["42501"], str(r)
    r = alice.extended("SELECT count(*) FROM customers")
    assert r.codes == ["25P02"] and r.ready == "E", str(r)
    r = alice.run(parse("", "ROLLBACK"), bind(), execute(), SYNC)
    expect(r, "12CZ", "alice", "ROLLBACK (extended)")
    alice.assert_alive("ROLLBACK after a refusal")


def test_named_portal_across_syncs_in_a_transaction(alice, world):
    """A portal in a transaction survives Sync: fetch it two rows at a time."""
    expect(alice.query("BEGIN"), "CZ", "alice", "BEGIN", ready="T")
    sql = "SELECT id, name, ssn FROM customers ORDER BY id"
    r = alice.run(parse("cur_s", sql), bind("cur", "cur_s"), execute("cur", 2), SYNC)
    expect(r, "12DDsZ", "alice", sql, ready="T")
    r2 = alice.run(execute("cur", 2), SYNC)
    expect(r2, "DCZ", "alice", sql, ready="T")
    got = [(int(i), n.decode(), s.decode()) for i, n, s in r.raw_rows() + r2.raw_rows()]
    want = [(c["id"], c["name"], mask_ssn(c["ssn"])) for c in world.customers_of("acme")]
    assert got == want, f"as alice, {sql} in two fetches: got {got}, want {want}"
    assert_no_leak(world, "alice", sql, ["id", "name", "ssn"], got)
    expect(alice.query("COMMIT"), "CZ", "alice", "COMMIT")
    r = alice.run(execute("cur", 1), SYNC)  # the portal ended with the transaction
    expect(r, "EZ", "alice", "Execute of a committed portal")
    assert r.codes == ["34000"], str(r)


# -- names the session did not create -----------------------------------------------------------

@pytest.mark.parametrize("name", ["never_prepared", ""])
def test_bind_to_a_statement_never_prepared(alice, name):
    r = alice.run(bind("", name), execute(), SYNC)
    expect(r, "EZ", "alice", f"Bind to statement {name!r}")
    assert r.codes == ["26000"], f"Bind to statement {name!r}: {r}"
    alice.assert_alive("a Bind to an unknown statement")


def test_statement_of_another_session_is_unknown(proxy):
    with Session(proxy, "bob") as bob, Session(proxy, "alice") as alice:
        expect(bob.run(parse("shared_name", "SELECT name, email FROM customers"), SYNC), "1Z",
               "bob", "Parse shared_name")
        r = alice.run(bind("", "shared_name"), execute(), SYNC)
        expect(r, "EZ", "alice", "Bind to bob's statement name")
        assert r.codes == ["26000"], str(r)
        r = bob.run(bind("", "shared_name"), execute(), SYNC)
        assert r.tags == "2DDCZ", f"bob's own statement: {r}"
        values = {v for row in r.rows() for v in row}
        assert values <= {"Gina Grant", "Gus Gold", "g***@globex.example"}, str(r)


def test_execute_of_an_unknown_portal(alice):
    r = alice.run(execute("no_such_portal"), SYNC)
    expect(r, "EZ", "alice", "Execute no_such_portal")
    assert r.codes == ["34000"], str(r)
    alice.assert_alive("Execute of an unknown portal")


def test_describe_of_an_unknown_statement_and_portal(alice):
    r = alice.run(describe("S", "no_such_statement"), SYNC)
    expect(r, "EZ", "alice", "Describe S no_such_statement")
    assert r.codes == ["26000"], str(r)
    r = alice.run(describe("P", "no_such_portal"), SYNC)
    expect(r, "EZ", "alice", "Describe P no_such_portal")
    assert r.codes == ["34000"], str(r)
    alice.assert_alive("Describe of unknown names")


def test_execute_of_a_declared_cursor(alice, world):
    """A DECLAREd cursor is a portal PostgreSQL knows but the extended protocol never bound: the
    proxy may refuse it (34000) or run it, and then only the rewritten, fenced query runs."""
    expect(alice.query("BEGIN"), "CZ", "alice", "BEGIN", ready="T")
    sql = "DECLARE sqlcur CURSOR FOR SELECT name, ssn FROM customers ORDER BY id"
    r = alice.query(sql)
    assert not r.codes, f"as alice: {sql}: {r}"
    r = alice.run(execute("sqlcur"), SYNC)
    assert r.codes in ([], ["34000"]), f"Execute of a DECLAREd cursor: {r}"
    got = [(n.decode(), s_.decode()) for n, s_ in r.raw_rows()]
    assert_no_leak(world, "alice", sql, ["name", "ssn"], got)
    if not r.codes:
        assert got == [(c["name"], mask_ssn(c["ssn"])) for c in world.customers_of("acme")], got
    alice.query("ROLLBACK")
    alice.assert_alive("Execute of a DECLAREd cursor")


# -- named statements ---------------------------------------------------------------------------

def test_named_statement_reused(proxy, world):
    sql = "SELECT id, name, email, ssn FROM customers WHERE id = $1"
    for user in ("alice", "bob"):
        tenant = tenant_of(user)
        own = {c["id"]: c for c in world.customers_of(tenant)}
        with Session(proxy, user) as s:
            expect(s.run(parse("by_id", sql, [INT4]), SYNC), "1Z", user, sql)
            for round_ in range(2):  # twice, across Syncs
                msgs = []
                for cid in range(1, 7):
                    msgs += [bind("", "by_id", [str(cid)]), execute()]
                r = s.run(*msgs, SYNC)
                got = r.raw_rows()
                assert r.tags.count("2") == 6 and r.tags.count("C") == 6 and r.ready == "I", str(r)
                want = [[str(i).encode(), c["name"].encode(),
                         mask_email(c["email"]).encode() if c["email"] else None,
                         mask_ssn(c["ssn"]).encode()] for i, c in sorted(own.items())]
                assert got == want, (f"as {user}, {sql} for ids 1..6 (round {round_}):\n"
                                     f"  got:  {got}\n  want: {want}")
                assert r.completions() == [f"SELECT {1 if cid in own else 0}" for cid in range(1, 7)], str(r)
            # Describe of the reused statement, and more portals of it at once.
            r = s.run(describe("S", "by_id"), bind("a", "by_id", ["1"]), bind("b", "by_id", ["4"]),
                      execute("b"), execute("a"), SYNC)
            want_tags = "tT22" + ("D" if 4 in own else "") + "C" + ("D" if 1 in own else "") + "CZ"
            assert r.tags == want_tags, str(r)


def test_close_then_reuse(alice):
    sql = "SELECT name FROM customers WHERE id = 2"
    r = alice.run(parse("closeme", sql), bind("pc", "closeme"), execute("pc"), close("P", "pc"),
                  close("S", "closeme"), SYNC)
    expect(r, "12DC33Z", "alice", sql)
    assert r.raw_rows() == [[b"Arthur Abbott"]], str(r)
    r = alice.run(bind("", "closeme"), execute(), SYNC)
    expect(r, "EZ", "alice", "Bind after Close S")
    assert r.codes == ["26000"], str(r)
    r = alice.run(describe("S", "closeme"), SYNC)
    assert r.codes == ["26000"], f"Describe after Close S: {r}"
    expect(alice.query("BEGIN"), "CZ", "alice", "BEGIN", ready="T")
    r = alice.run(parse("again", sql), bind("pc2", "again"), close("P", "pc2"), execute("pc2"), SYNC)
    expect(r, "123EZ", "alice", "Execute after Close P", ready="E")
    assert r.codes == ["34000"], str(r)
    alice.query("ROLLBACK")
    # The name is free again: Parse it anew.
    r = alice.run(parse("closeme", sql), bind("", "closeme"), execute(), SYNC)
    expect(r, "12DCZ", "alice", "Parse of a closed name")


def test_close_of_unknown_names_is_harmless(alice):
    r = alice.run(close("S", "nothing_here"), close("P", "nothing_here"), SYNC)
    expect(r, "33Z", "alice", "Close of unknown names")


def test_multiple_statements_in_one_parse_are_refused(alice):
    sql = "SELECT 1; SELECT name FROM customers"
    r = alice.run(parse("", sql), bind(), execute(), SYNC)
    expect(r, "EZ", "alice", sql)
    assert r.codes == ["42601"], str(r)


def test_empty_query_in_both_protocols(alice):
    r = alice.query("")
    expect(r, "IZ", "alice", "empty simple query")
    r = alice.run(parse("", ""), bind(), describe("P"), execute(), SYNC)
    expect(r, "12nIZ", "alice", "empty extended query")


# -- row limits and formats ---------------------------------------------------------------------

def test_execute_with_row_limit(bob, world):
    sql = "SELECT id, amount, status FROM orders ORDER BY id"
    want = [(o["id"], o["amount"], o["status"]) for o in world.orders_of("globex")]
    assert len(want) == 3
    r = bob.run(parse("", sql), bind("lim"), execute("lim", 2), execute("lim", 0), SYNC)
    expect(r, "12DDsDCZ", "bob", sql)
    got = [(int(i), decimal.Decimal(a.decode()), s.decode()) for i, a, s in r.raw_rows()]
    assert got == want, f"as bob, {sql} with row limit 2: got {got}, want {want}"
    assert_no_leak(world, "bob", sql, ["id", "amount", "status"], got)


def test_binary_results_and_parameters(alice, world):
    sql = "SELECT id, name, ssn FROM customers WHERE id = $1"
    for cid in (1, 2, 3, 4, 5):
        r = alice.run(parse("", sql, [INT4]),
                      bind("", "", [struct.pack("!i", cid)], param_formats=[1], result_formats=[1, 0, 0]),
                      describe("P"), execute(), SYNC)
        own = [c for c in world.customers_of("acme") if c["id"] == cid]
        expect(r, "12T" + "D" * len(own) + "CZ", "alice", f"{sql} [binary $1={cid}]")
        cols = row_description([p for t, p in r.messages if t == b"T"][0])
        assert [c.fmt for c in cols] == [1, 0, 0], cols
        if own:
            [row] = r.raw_rows()
            assert row[0] == struct.pack("!i", cid), f"binary int4 id: {row[0]!r}"
            assert row[1:] == [own[0]["name"].encode(), mask_ssn(own[0]["ssn"]).encode()], row
    # Binary for every column (one format code for all): int4 and text both binary.
    r = alice.run(parse("", "SELECT id, ssn FROM customers ORDER BY id"), bind(result_formats=[1]),
                  execute(), SYNC)
    got = [(struct.unpack("!i", i)[0], s.decode()) for i, s in r.raw_rows()]
    want = [(c["id"], mask_ssn(c["ssn"])) for c in world.customers_of("acme")]
    assert got == want, f"all-binary results: got {got}, want {want}"


def test_binary_parameter_cannot_reach_another_tenant(alice, world):
    """A binary text parameter naming the other tenant still meets the fence."""
    sql = "SELECT id, name FROM customers WHERE tenant_id = $1"
    r = alice.run(parse("", sql, [TEXT]), bind("", "", [b"globex"], param_formats=[1]), execute(), SYNC)
    assert r.codes in ([], ["42501"]), str(r)
    assert r.raw_rows() == [], f"LEAK as alice: {sql} with $1='globex' returned {r}"
    r = alice.run(parse("", sql, [TEXT]), bind("", "", [b"acme"], param_formats=[1]), execute(), SYNC)
    got = sorted(int(i) for i, _ in r.raw_rows())
    assert got == [c["id"] for c in world.customers_of("acme")], f"$1='acme': {r}"


REGCLASS = 2205


@pytest.mark.parametrize("how", ["parameter-type", "sql-cast"])
def test_hidden_relation_cannot_be_resolved(alice, how):
    """The catalogs show alice only the policy's tables; resolving a name through regclass must
    not tell a hidden table (internal_audit) from one that does not exist, nor give its OID.
    The parameter-type path matters most: Parse's type OIDs are not SQL the analyser reads."""
    def resolve(name):
        if how == "parameter-type":
            return alice.run(parse("", "SELECT $1 AS x", [REGCLASS]),
                             bind("", "", [name], result_formats=[1]), execute(), SYNC)
        return alice.query(f"SELECT '{name}'::regclass::oid AS x")
    hidden, missing, visible = resolve("internal_audit"), resolve("no_such_table_tw"), resolve("customers")
    assert missing.codes, f"a missing table resolved: {missing}"
    resolved = hidden.raw_rows()
    assert not resolved, (
        f"as alice via {how}: the hidden table internal_audit resolved to {resolved} "
        f"(OID); a missing table gives {missing}")
    assert hidden.tags == missing.tags, f"hidden {hidden} vs missing {missing}"
    assert visible.raw_rows() or visible.codes, str(visible)


# -- messages that are refused or fatal ---------------------------------------------------------

def test_function_call_is_refused_and_the_session_lives(alice):
    # FunctionCall: oid of pg_sleep (2626), no format codes, one text argument, text result.
    payload = struct.pack("!Ihh", 2626, 0, 1) + struct.pack("!i", 1) + b"0" + struct.pack("!h", 0)
    r = alice.run(wire.message(b"F", payload))
    expect(r, "EZ", "alice", "FunctionCall pg_sleep")
    assert r.codes == ["42501"], str(r)
    assert r.errors[0].fields.get("S") == "ERROR", str(r)
    alice.assert_alive("a FunctionCall")


def test_function_call_inside_a_transaction_aborts_it(alice):
    alice.query("BEGIN")
    payload = struct.pack("!Ihh", 2626, 0, 1) + struct.pack("!i", 1) + b"0" + struct.pack("!h", 0)
    r = alice.run(wire.message(b"F", payload))
    expect(r, "EZ", "alice", "FunctionCall in BEGIN", ready="E")
    assert alice.query("SELECT 1").codes == ["25P02"]
    alice.query("ROLLBACK")
    alice.assert_alive("a FunctionCall inside BEGIN")


def backend_pid(pg, session: "Session") -> int:
    """PostgreSQL's pid of the backend serving this session (found by a unique query text)."""
    marker = f"tw_probe_{session.pid}_{time.monotonic_ns()}"
    r = session.query(f"SELECT '{marker}' AS probe")
    assert r.tags == "TDCZ", f"probe query: {r}"
    pids = [row[0] for row in pg.query("SELECT pid FROM pg_stat_activity WHERE usename = %s "
                                       "AND query LIKE %s", (SERVICE_ROLE, f"%{marker}%"))]
    assert len(pids) == 1, f"backend of session {session.pid}: {pids}"
    return pids[0]


def backend_gone(pg, pid: int) -> bool:
    return not pg.query("SELECT 1 FROM pg_stat_activity WHERE pid = %s", (pid,))


def assert_fatal_and_closed(session: Session, what: str, code: str = "08P01") -> None:
    try:
        messages = session.conn.read_until_closed()
    except TimeoutError:
        pytest.fail(f"{what}: the proxy kept the connection open", pytrace=False)
    errors = [wire.parse_error(p) for t, p in messages if t == b"E"]
    assert errors, f"{what}: no ErrorResponse before close: {messages!r}"
    assert errors[-1].code == code and errors[-1].fields.get("S") == "FATAL", (
        f"{what}: want FATAL {code}, got {[str(e) for e in errors]}")


def wait_for(predicate, timeout=10.0) -> bool:
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        if predicate():
            return True
        time.sleep(0.1)
    return predicate()


@pytest.mark.parametrize("tag", [b"!", b"Y", b"\x00", b"\xff", b"p"])
def test_unknown_message_type_is_fatal(proxy, pg, tag):
    s = Session(proxy, "alice")
    try:
        pid = backend_pid(pg, s)
        s.send(parse("", "SELECT 1"), wire.message(tag, b"abc\0"))
        assert_fatal_and_closed(s, f"message type {tag!r} after Parse")
    finally:
        s.conn.close()
    assert wait_for(lambda: backend_gone(pg, pid)), (
        f"the backend connection outlived the client after message type {tag!r}")
    with Session(proxy, "bob") as other:
        other.assert_alive(f"another session's fatal message type {tag!r}")


@pytest.mark.parametrize("tag,body", [(b"d", b"1\tx\n"), (b"c", b""), (b"f", b"boom\0")])
def test_copy_messages_outside_copy_are_fatal(proxy, tag, body):
    s = Session(proxy, "alice")
    try:
        s.send(wire.message(tag, body))
        assert_fatal_and_closed(s, f"message {tag!r} outside COPY")
    finally:
        s.conn.close()
    with Session(proxy, "alice") as other:
        other.assert_alive(f"{tag!r} outside COPY on another session")


def test_copy_data_after_a_refused_copy_is_fatal(alice):
    """A COPY FROM that was refused never started: CopyData afterwards is outside COPY."""
    r = alice.query("COPY internal_audit FROM STDIN")
    assert r.codes and r.codes[0] in ("42501", "0A000"), str(r)
    alice.send(wire.message(b"d", b"1\tleak\n"), wire.message(b"c"))
    assert_fatal_and_closed(alice, "CopyData after a refused COPY FROM")


# -- hostile statement names --------------------------------------------------------------------

HOSTILE_NAMES = {
    "long-63": "s" * 63,
    "long-64": "s" * 64,
    "long-9k": "n" * 9_000,  # PostgreSQL caps Describe/Close/Execute at 10,000 bytes
    "quotes": "a\"b'c;DROP TABLE customers;--",
    "backslashes": "\\x00\\\\'",
    "non-ascii": "stmt_\u00df_\u540d\u524d_\U0001f600",
    "spaces": "  select * from internal_audit  ",
    "proxy-refusal-name": "tw_refusal",
    "marker-lookalike": "tw_refused_0000000000000000_1",
    "invalid-utf8": b"bad\xff\xfename",
}


@pytest.mark.parametrize("label", list(HOSTILE_NAMES))
def test_hostile_statement_names(proxy, world, label):
    name = HOSTILE_NAMES[label]
    sql = "SELECT id, ssn FROM customers ORDER BY id"
    want = [[str(c["id"]).encode(), mask_ssn(c["ssn"]).encode()] for c in world.customers_of("acme")]
    with Session(proxy, "alice") as s:
        r = s.run(parse(name, sql), bind(name, name), describe("S", name), describe("P", name),
                  execute(name), SYNC)
        if r.errors:  # failing cleanly is fine: one ErrorResponse, then ReadyForQuery
            assert r.tags == "EZ" and r.ready == "I", f"statement name {label}: {r}"
        else:
            expect(r, "12tTT" + "D" * len(want) + "CZ", "alice", f"{sql} as statement {label}")
            assert r.raw_rows() == want, f"statement name {label}: {r}"
            # Reused, then a refused Parse under the same name: the refusal still arrives intact.
            r = s.run(bind("", name), execute(), parse(name, "SELECT * FROM internal_audit"), SYNC)
            assert r.raw_rows() == want and r.tags.endswith("EZ"), f"statement name {label}: {r}"
            assert r.codes == ["42501"], f"refused Parse under name {label}: {r}"
            r = s.run(parse("", "SELECT payload FROM internal_audit"), bind(), execute(), SYNC)
            expect(r, "EZ", "alice", f"refusal after statement {label}")
            assert r.codes == ["42501"], f"refusal after statement {label}: {r}"
            r = s.run(close("S", name), SYNC)
            expect(r, "3Z", "alice", f"Close {label}")
        s.assert_alive(f"statement name {label}")
    assert proxy.alive()


@pytest.mark.parametrize("kind", ["describe", "execute", "close"])
def test_name_over_postgres_small_message_limit(proxy, pg, kind):
    """PostgreSQL reads Describe, Close and Execute with a 10,000-byte limit and drops the
    connection silently above it. Parse and Bind take such a name, so a client can send one:
    that is the client's protocol violation (08P01), not a lost database (08006)."""
    name = "n" * 10_000
    s = Session(proxy, "alice")
    try:
        pid = backend_pid(pg, s)
        r = s.run(parse(name, "SELECT name FROM customers WHERE id = 1"), bind(name, name), SYNC)
        expect(r, "12Z", "alice", "Parse/Bind with a 10,000-byte name", ready="I")
        expect(s.query("BEGIN"), "CZ", "alice", "BEGIN", ready="T")
        expect(s.run(bind(name, name), SYNC), "2Z", "alice", "Bind in BEGIN", ready="T")
        s.send({"describe": describe("S", name), "execute": execute(name),
                "close": close("P", name)}[kind], SYNC)
        assert_fatal_and_closed(s, f"{kind} with a 10,000-byte name")
    finally:
        s.conn.close()
    assert wait_for(lambda: backend_gone(pg, pid)), "the backend connection outlived the client"
    with Session(proxy, "bob") as other:
        other.assert_alive(f"another session's oversized {kind}")


def test_client_statement_named_like_the_proxy_refusal(alice):
    """The proxy parses its refusal markers as statement tw_refusal: a client statement with that
    name must neither break refusals nor be replaced."""
    sql = "SELECT name FROM customers WHERE id = 1"
    expect(alice.run(parse("tw_refusal", sql), SYNC), "1Z", "alice", sql)
    r = alice.run(parse("", "SELECT * FROM internal_audit"), bind(), execute(), SYNC)
    expect(r, "EZ", "alice", "refusal while tw_refusal exists")
    assert r.codes == ["42501"], str(r)
    r = alice.run(bind("", "tw_refusal"), execute(), SYNC)
    expect(r, "2DCZ", "alice", "Bind to the client's tw_refusal")
    assert r.raw_rows() == [[b"Alice Anders"]], str(r)


# -- cancel requests ----------------------------------------------------------------------------

# pg_stat_activity says 'active' from Parse on, but PostgreSQL drops a cancel that lands between
# two extended-protocol messages (Bind's planning loads JIT for this query): wait until Execute.
EXECUTING = 1.0


def send_cancel(proxy, pid: int, key: int) -> None:
    with wire.Conn("127.0.0.1", proxy.port, timeout=5) as c:
        c.send(struct.pack("!IIii", 16, wire.CANCEL_REQUEST, pid, key))
        assert c.is_closed(5), "the proxy kept a CancelRequest connection open"


def active_slow_backends(pg, marker: int) -> list[int]:
    return [r[0] for r in pg.query(
        "SELECT pid FROM pg_stat_activity WHERE usename = %s AND state = 'active' "
        "AND query LIKE %s", (SERVICE_ROLE, f"%generate_series%{marker}%"))]


def cancel_leftovers(pg) -> None:
    pg.query("SELECT pg_cancel_backend(pid) FROM pg_stat_activity WHERE usename = %s "
             "AND query LIKE '%%generate_series%%' AND pid <> pg_backend_pid()", (SERVICE_ROLE,))


def has_data(session: Session, wait: float) -> bool:
    """True if the proxy sent anything (or closed) within `wait` seconds; nothing is consumed."""
    if session.conn.buf:
        return True
    session.conn.sock.settimeout(wait)
    try:
        session.conn.sock.recv(1, socket.MSG_PEEK)
    except socket.timeout:
        return False
    return True


def test_cancel_with_the_proxy_key_cancels(proxy, pg):
    marker = 200_000_001
    with Session(proxy, "alice", timeout=30) as s:
        try:
            s.send(wire.query_message(SLOW_SQL.format(n=marker)))
            assert wait_for(lambda: active_slow_backends(pg, marker), 10), "the slow query never started"
            time.sleep(EXECUTING)
            [real_pid] = active_slow_backends(pg, marker)
            assert s.pid != real_pid, (f"BackendKeyData shows PostgreSQL's real backend pid {real_pid}")
            service_pids = {r[0] for r in pg.query(
                "SELECT pid FROM pg_stat_activity WHERE usename = %s", (SERVICE_ROLE,))}
            assert s.pid not in service_pids, f"client pid {s.pid} is a real backend pid"
            started = time.monotonic()
            send_cancel(proxy, s.pid, s.key)
            r = s.until_ready()
            assert r.codes == ["57014"] and r.ready == "I", f"cancel of {SLOW_SQL}: {r}"
            assert time.monotonic() - started < 10, "cancel took too long"
            assert "D" not in r.tags, str(r)
        finally:
            cancel_leftovers(pg)
        s.assert_alive("a cancelled query")


def test_cancel_in_extended_protocol(proxy, pg):
    marker = 200_000_002
    with Session(proxy, "bob", timeout=30) as s:
        try:
            sql = SLOW_SQL.format(n=marker)
            s.send(parse("", sql), bind(), execute(), SYNC)
            assert wait_for(lambda: active_slow_backends(pg, marker), 10), "the slow query never started"
            time.sleep(EXECUTING)
            send_cancel(proxy, s.pid, s.key)
            r = s.until_ready()
            assert r.tags == "12EZ" and r.codes == ["57014"], f"extended cancel of {sql}: {r}"
        finally:
            cancel_leftovers(pg)
        s.assert_alive("a cancelled extended query")


def test_cancel_with_a_wrong_key_does_nothing(proxy, pg):
    marker = 200_000_003
    with Session(proxy, "alice", timeout=30) as s, Session(proxy, "bob", timeout=30) as other:
        try:
            s.send(wire.query_message(SLOW_SQL.format(n=marker)))
            other.send(wire.query_message(SLOW_SQL.format(n=marker + 1)))
            assert wait_for(lambda: active_slow_backends(pg, marker), 10), "the slow query never started"
            assert wait_for(lambda: active_slow_backends(pg, marker + 1), 10), "the slow query never started"
            time.sleep(EXECUTING)
            [real_pid] = active_slow_backends(pg, marker)
            wrong = [(s.pid, s.key ^ 1), (s.pid, 0), (s.pid ^ 1, s.key), (real_pid, s.key),
                     (other.pid, s.key), (s.pid, other.key)]
            for pid, key in wrong:
                send_cancel(proxy, pid, key)
            time.sleep(2)
            assert not has_data(s, 0.5), f"a wrong cancel key ended alice's query: {s.until_ready()}"
            assert not has_data(other, 0.5), f"a wrong cancel key ended bob's query: {other.until_ready()}"
            assert active_slow_backends(pg, marker) == [real_pid], "the query is no longer running"
            # Bob's right key cancels bob's query only.
            send_cancel(proxy, other.pid, other.key)
            r = other.until_ready()
            assert r.codes == ["57014"], f"bob's cancel: {r}"
            assert not has_data(s, 1.0), "bob's cancel ended alice's query"
            send_cancel(proxy, s.pid, s.key)
            r = s.until_ready()
            assert r.codes == ["57014"], f"alice's cancel after wrong keys: {r}"
        finally:
            cancel_leftovers(pg)
        s.assert_alive("wrong cancel keys")
        other.assert_alive("wrong cancel keys")


def test_cancel_keys_are_per_session_and_random(proxy):
    keys = []
    for _ in range(5):
        with Session(proxy, "alice") as s:
            keys.append((s.pid, s.key))
    assert len({k for k in keys}) == 5, f"repeated BackendKeyData: {keys}"
    assert len({p for p, _ in keys}) == 5, f"repeated pids: {keys}"


def test_parallel_extended_sessions_stay_isolated(proxy, world):
    """Pipelined named statements from both tenants at once: no answer crosses sessions."""
    failures = []
    sql = "SELECT id, tenant_id, name, email, phone, ssn FROM customers WHERE id <= $1 ORDER BY id"

    def worker(user):
        try:
            with Session(proxy, user) as s:
                want = masked_customers(world, tenant_of(user))
                s.run(parse("w", sql, [INT4]), SYNC)
                for _ in range(20):
                    r = s.run(*[m for _ in range(3) for m in (bind("", "w", ["99"]), execute())], SYNC)
                    got = [tuple(None if v is None else v.decode() for v in row) for row in r.raw_rows()]
                    w = [tuple(None if v is None else str(v) for v in row) for row in want] * 3
                    if got != w:
                        failures.append((user, got))
                        return
        except Exception as e:  # noqa: BLE001 - reported below
            failures.append((user, repr(e)))

    threads = [threading.Thread(target=worker, args=(u,)) for u in ("alice", "bob", "carol") * 4]
    for t in threads:
        t.start()
    for t in threads:
        t.join(60)
    assert not failures, f"parallel extended sessions: {failures[:3]}"


# -- the same conversation straight to PostgreSQL -----------------------------------------------
# A refusal is PostgreSQL raising an error at that point, so every reply sequence around it must
# match what PostgreSQL gives for a statement that fails the same way. Each scenario runs twice:
# through the proxy as alice with REFUSED = a statement the policy refuses (42501), and straight
# to PostgreSQL as superuser with REFUSED = a syntax error (42601). Other statements only read the
# shared reference table, which both see alike.

REFUSED = object()
REFUSED_CALL = object()  # FunctionCall: refused by the proxy; an unknown function OID to PostgreSQL
OK = "SELECT code, name FROM countries ORDER BY code"


def direct_session(pg) -> wire.Conn:
    c = wire.Conn.__new__(wire.Conn)
    c.sock = socket.socket(socket.AF_UNIX, socket.SOCK_STREAM)
    c.sock.settimeout(10)
    c.sock.connect(f"{pg.tmp}/.s.PGSQL.{pg.port}")
    c.timeout, c.buf = 10.0, b""
    c.send(wire.startup_packet("postgres", "app"))
    c.read_until(b"Z")
    return c


def render(step, via_proxy: bool) -> bytes:
    out = b""
    for m in step:
        if isinstance(m, tuple) and m[0] == "P":
            sql = m[2]
            if sql is REFUSED:
                sql = "SELECT * FROM internal_audit" if via_proxy else "SELEC 1"
            out += parse(m[1], sql)
        elif isinstance(m, tuple) and m[0] == "Q":
            sql = m[1]
            if sql is REFUSED:
                sql = "SELECT * FROM internal_audit" if via_proxy else "SELEC 1"
            out += wire.query_message(sql)
        elif m is REFUSED_CALL:
            oid = 2626 if via_proxy else 0  # pg_sleep; no function has OID 0
            out += wire.message(b"F", struct.pack("!Ihh", oid, 0, 1) + struct.pack("!i", 1) + b"0" +
                                struct.pack("!h", 0))
        else:
            out += m
    return out


def P(name, sql):
    return ("P", name, sql)


def Q(sql):
    return ("Q", sql)


SCENARIOS = {
    "unnamed-statement-after-refused-parse": [
        [P("", OK), SYNC], [P("", REFUSED), SYNC], [bind(), execute(), SYNC]],
    "named-statement-after-refused-reparse": [
        [P("n1", OK), SYNC], [P("n1", REFUSED), SYNC], [bind("", "n1"), execute(), SYNC]],
    "unnamed-statement-after-refusal-mid-pipeline": [
        [P("", OK), bind(), execute(), P("", REFUSED), bind(), execute(), SYNC],
        [bind(), execute(), SYNC]],
    "pipeline-skips-to-sync": [
        [P("", OK), bind(), execute(), P("", REFUSED), bind(), describe("P"), execute(),
         close("S", ""), P("", OK), bind(), execute(), FLUSH, SYNC], [Q(OK)]],
    "refusal-in-begin": [
        [Q("BEGIN")], [P("", REFUSED), bind(), execute(), SYNC], [P("", OK), bind(), execute(), SYNC],
        [Q(OK)], [Q("COMMIT")], [Q(OK)]],
    "simple-refusal-in-begin-then-savepoint": [
        [Q("BEGIN")], [Q("SAVEPOINT a")], [Q(REFUSED)], [Q(OK)], [Q("ROLLBACK TO SAVEPOINT a")],
        [Q(OK)], [Q("COMMIT")]],
    "refusal-between-fetches-of-a-portal": [
        [Q("BEGIN")], [P("", OK), bind("c"), execute("c", 1), SYNC], [P("", REFUSED), SYNC],
        [execute("c", 1), SYNC], [Q("ROLLBACK")]],
    "refusal-in-multi-statement-query": [
        [Q("BEGIN")], [Q(OK)], [Q(REFUSED)], [Q("ROLLBACK")], [Q(OK)]],
    "function-call-in-begin": [
        [Q("BEGIN")], [REFUSED_CALL], [Q(OK)], [Q("ROLLBACK")], [REFUSED_CALL], [Q(OK)]],
    "statement-kept-across-refusals": [
        [P("keep", OK), SYNC], [P("", REFUSED), bind("", "keep"), execute(), SYNC],
        [bind("", "keep"), execute(), SYNC], [close("S", "keep"), SYNC], [bind("", "keep"), SYNC]],
    # Simple queries differing only in literals compared with a column run as one prepared
    # statement (pool.prepare_simple_queries): the same replies as the plain queries get.
    "simple-queries-differing-in-literals": [
        [Q(f"SELECT code, name FROM countries WHERE code = '{c}'")] for c in ("US", "DE", "XX", "JP")
    ] + [
        [Q(f"SELECT code FROM countries WHERE code IN ('{a}', '{b}') ORDER BY 1")]
        for a, b in (("JP", "DE"), ("US", "JP"))
    ] + [
        [Q(f"SELECT count(*) FROM countries WHERE length(code) = {n}")] for n in (2, 3, 2)
    ] + [
        [Q(f"SELECT code FROM countries WHERE name = '{n}'")] for n in ("it''s", "Japan", "")
    ] + [
        [Q(f"SELECT code FROM countries WHERE code BETWEEN '{a}' AND '{b}' ORDER BY code LIMIT 2")]
        for a, b in (("A", "Z"), ("E", "K"))
    ],
    "simple-queries-differing-in-literals-failing": [
        [Q("SELECT code FROM countries WHERE code::int = 1")],
        [Q("SELECT code FROM countries WHERE code::int = 2")],
        [Q("BEGIN")], [Q("SELECT code FROM countries WHERE code = 'US'")],
        [Q("SELECT code FROM countries WHERE code::int = 3")],
        [Q("SELECT code FROM countries WHERE code = 'DE'")],
        [Q("ROLLBACK")], [Q("SELECT code FROM countries WHERE code = 'JP'")]],
    "simple-queries-around-deallocate-all": [
        [Q("SELECT code FROM countries WHERE code = 'US'")],
        [Q("SELECT code FROM countries WHERE code = 'DE'")], [Q("DEALLOCATE ALL")],
        [Q("SELECT code FROM countries WHERE code = 'JP'")],
        [Q("SELECT code FROM countries WHERE code = 'US'")]],
    "simple-query-drops-the-unnamed-statement": [
        [P("", OK), SYNC], [Q("SELECT code FROM countries WHERE code = 'US'")],
        [bind(), execute(), SYNC], [P("", OK), bind(), SYNC],
        [Q("SELECT code FROM countries WHERE code = 'DE'")], [execute(), SYNC]],
}


def comparable(reply: Reply) -> tuple:
    codes = ["<refusal>" if c in ("42501", "42601", "42883") else c for c in reply.codes]
    return reply.tags, codes, reply.ready, reply.raw_rows()


@pytest.mark.parametrize("scenario", list(SCENARIOS))
def test_same_replies_as_postgres(proxy, pg, scenario):
    steps = SCENARIOS[scenario]
    direct = direct_session(pg)
    try:
        with Session(proxy, "alice") as s:
            for i, step in enumerate(steps):
                direct.send(render(step, via_proxy=False))
                want = Reply(direct.read_until(b"Z"))
                got = s.run(render(step, via_proxy=True))
                assert comparable(got) == comparable(want), (
                    f"scenario {scenario}, step {i + 1} of {len(steps)}: the proxy (as alice) "
                    f"answers differently from PostgreSQL\n  proxy:      {got}\n  PostgreSQL: {want}")
                assert not (set(got.codes) & {"42601", "42883"}), f"proxy refusal came back as {got}"
    finally:
        direct.close()
