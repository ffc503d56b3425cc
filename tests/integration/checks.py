"""Ground truth read straight from PostgreSQL, and the assertions built on it: what a principal
must never see (another tenant's values, raw PII, hidden columns), and what it must see exactly
(the tenant oracle of harness.Postgres.truth).
"""
from __future__ import annotations

import datetime
import decimal
import json
import time
from dataclasses import dataclass, field

import pytest

from harness import TENANTS, USERS


def audit_events(path) -> list[dict]:
    """The events of a JSON-lines audit log, in order. The proxy may be writing a line as it is
    read: a last line without its newline is not complete yet, so it is left for the next read."""
    try:
        text = path.read_text()
    except FileNotFoundError:
        return []
    complete = text[:text.rfind("\n") + 1]
    return [json.loads(line) for line in complete.splitlines() if line.strip()]


def mask_email(v):
    return None if v is None else v[0] + "***@" + v.split("@", 1)[1]


def mask_phone(v):
    return None if v is None else "***-***-" + v[-4:]


def mask_ssn(v):
    return None if v is None else "***-**-" + v[-4:]


@dataclass
class Forbidden:
    """Values one tenant must never receive, by kind."""
    strings: set[str] = field(default_factory=set)  # checked as substrings of every text value
    ids: set[int] = field(default_factory=set)  # checked in columns named id / *_id
    amounts: set[decimal.Decimal] = field(default_factory=set)  # checked in every numeric value
    times: set[datetime.datetime] = field(default_factory=set)

    def offence(self, column: str, value) -> str | None:
        if isinstance(value, str):
            for s in self.strings:
                if s in value:
                    return f"contains forbidden value {s!r}"
        elif isinstance(value, bool) or value is None:
            return None
        elif isinstance(value, int):
            if (column == "id" or column.endswith("_id")) and value in self.ids:
                return f"is another tenant's id {value}"
        elif isinstance(value, decimal.Decimal):
            if value in self.amounts:
                return f"is another tenant's amount {value}"
        elif isinstance(value, datetime.datetime):
            if value in self.times:
                return f"is another tenant's created_at {value}"
        elif isinstance(value, (list, tuple)):
            for v in value:
                if (o := self.offence(column, v)):
                    return o
        return None


@dataclass
class World:
    """Every row of the sample data, read as superuser (not through the proxy)."""
    tenants: list[dict]
    customers: list[dict]
    orders: list[dict]

    @classmethod
    def load(cls, pg) -> "World":
        def rows(sql):
            with pg.superuser() as c:
                cur = c.cursor()
                cur.execute(sql)
                names = [d.name for d in cur.description]
                return [dict(zip(names, r)) for r in cur.fetchall()]
        return cls(rows("SELECT * FROM public.tenants ORDER BY id"),
                   rows("SELECT * FROM public.customers ORDER BY id"),
                   rows("SELECT * FROM public.orders ORDER BY id"))

    def customers_of(self, tenant):
        return [c for c in self.customers if c["tenant_id"] == tenant]

    def orders_of(self, tenant):
        return [o for o in self.orders if o["tenant_id"] == tenant]

    def raw_pii(self) -> set[str]:
        """Raw email, phone, ssn and hidden notes of every customer: never shown to anyone."""
        return {c[k] for c in self.customers for k in ("email", "phone", "ssn", "notes") if c[k]}

    def forbidden(self, tenant: str) -> Forbidden:
        f = Forbidden()
        f.strings |= self.raw_pii()
        for t in self.tenants:
            if t["id"] != tenant:
                f.strings |= {t["id"], t["name"]}
        for c in self.customers:
            if c["tenant_id"] != tenant:
                f.strings |= {c["name"]}
                f.strings |= {m for m in (mask_email(c["email"]), mask_phone(c["phone"]),
                                          mask_ssn(c["ssn"])) if m}
                f.ids.add(c["id"])
        for o in self.orders:
            if o["tenant_id"] != tenant:
                f.ids.add(o["id"])
                f.amounts.add(o["amount"])
                f.times.add(o["created_at"])
        # An id or amount that is also the principal's own is not evidence of a leak.
        f.ids -= {c["id"] for c in self.customers_of(tenant)} | {o["id"] for o in self.orders_of(tenant)}
        f.amounts -= {o["amount"] for o in self.orders_of(tenant)}
        return f


def tenant_of(user: str) -> str:
    return USERS[user][1]


def other_tenant(tenant: str) -> str:
    return next(t for t in TENANTS if t != tenant)


def assert_no_leak(world: World, user: str, sql: str, columns: list[str], rows: list[tuple]) -> None:
    forbidden = world.forbidden(tenant_of(user))
    for row in rows:
        for column, value in zip(columns, row):
            offence = forbidden.offence(column, value)
            if offence:
                pytest.fail(f"LEAK as {user} (tenant {tenant_of(user)})\n  query: {sql}\n"
                            f"  column {column!r} {offence}\n  row: {row!r}\n"
                            f"  all rows: {rows!r}", pytrace=False)


def assert_text_clean(world: World, user: str, context: str, text: str, typed: str = "") -> None:
    """No forbidden string anywhere in some output (psql stdout, an error message), apart from
    what the user typed itself (`typed`, which an error message may quote)."""
    for s in sorted(world.forbidden(tenant_of(user)).strings):
        if s in text and s not in typed:
            pytest.fail(f"LEAK as {user} (tenant {tenant_of(user)}): {s!r} appears in the output "
                        f"of {context}:\n{text}", pytrace=False)


def run(conn, sql: str, params=None) -> tuple[list[str], list[tuple]]:
    cur = conn.cursor()
    cur.execute(sql, params)
    if cur.description is None:
        return [], []
    return [d.name for d in cur.description], cur.fetchall()


def _key(row):
    return tuple((v is None, repr(v)) for v in row)


def assert_rows(user: str, sql: str, got_columns, got_rows, want_columns, want_rows,
                ordered: bool) -> None:
    if list(got_columns) != list(want_columns):
        pytest.fail(f"as {user}: wrong columns\n  query: {sql}\n  got:  {got_columns}\n"
                    f"  want: {want_columns}", pytrace=False)
    g = list(got_rows) if ordered else sorted(got_rows, key=_key)
    w = list(want_rows) if ordered else sorted(want_rows, key=_key)
    if g != w:
        extra = [r for r in g if r not in w]
        missing = [r for r in w if r not in g]
        pytest.fail(f"as {user} (tenant {tenant_of(user)}): wrong rows\n  query: {sql}\n"
                    f"  got:  {g}\n  want: {w}\n  unexpected rows: {extra}\n  missing rows: {missing}",
                    pytrace=False)


def wait_for(predicate, what: str, timeout: float = 10.0):
    """Polls until predicate() is truthy and returns its value; fails the test after timeout."""
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        value = predicate()
        if value:
            return value
        time.sleep(0.05)
    pytest.fail(f"timed out waiting for {what}", pytrace=False)
