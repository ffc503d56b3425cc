"""What the security suite judges by: extra hostile objects created as superuser, the other
tenant's data read straight from PostgreSQL, and the verdict on one case's outcome."""
from __future__ import annotations

import datetime
import decimal
import io
from dataclasses import dataclass

import psycopg2
import pytest

import harness

ATTACKER = "alice"  # tenant acme, role analyst
VICTIM_TENANT = "globex"

# Objects the sample schema lacks, so that inheritance, partitions and views outside the policy can
# be attacked. Granted to the proxy's backend role: a refusal must come from tenantwall, not from
# a missing privilege of the service role.
EXTRA_OBJECTS = f"""
CREATE TABLE public.customers_archive () INHERITS (public.customers);
CREATE TABLE public.events (tenant_id text NOT NULL, payload text) PARTITION BY LIST (tenant_id);
CREATE TABLE public.events_acme PARTITION OF public.events FOR VALUES IN ('acme');
CREATE TABLE public.events_globex PARTITION OF public.events FOR VALUES IN ('globex');
INSERT INTO public.events VALUES ('acme', 'acme event'), ('globex', 'globex event payload');
CREATE VIEW public.customer_view AS SELECT * FROM public.customers;
CREATE MATERIALIZED VIEW public.order_totals AS
  SELECT tenant_id, sum(amount) AS total FROM public.orders GROUP BY tenant_id;
CREATE SCHEMA evil;
CREATE TABLE evil.customers (id int, tenant_id text, name text);
GRANT USAGE ON SCHEMA evil TO {harness.SERVICE_ROLE};
GRANT ALL ON ALL TABLES IN SCHEMA public, evil TO {harness.SERVICE_ROLE};
GRANT ALL ON ALL SEQUENCES IN SCHEMA public TO {harness.SERVICE_ROLE};
"""
ARCHIVE_ROWS = ("INSERT INTO public.customers_archive (id, tenant_id, name, email, phone, ssn, notes) "
                "VALUES (101, 'acme', 'Archie Acme', 'archie@acme.example', '+1-555-0111', "
                "'111-22-3333', 'acme archived'), "
                "(102, 'globex', 'Gloria Archived', 'gloria@globex.example', '+1-555-0222', "
                "'999-88-7777', 'globex archived secret')")


def create_extra_objects(pg, dbname: str = "app") -> None:
    with pg.superuser(dbname) as c:
        cur = c.cursor()
        cur.execute(EXTRA_OBJECTS)
        cur.execute(ARCHIVE_ROWS)


def restore_sample_data(pg) -> None:
    """schema.sql's rows again (TRUNCATE of customers also empties its inheritance child)."""
    pg.reset_data()
    with pg.superuser() as c:
        c.cursor().execute(ARCHIVE_ROWS)


def _rows(pg, sql, dbname="app"):
    with pg.superuser(dbname) as c:
        cur = c.cursor()
        cur.execute(sql)
        return cur.fetchall()


@dataclass
class Secrets:
    """Everything acme's users must never receive, read directly from PostgreSQL as superuser:
    every value of globex's rows (tenants, customers including inheritance children, orders, the
    events partition), every raw protected value (email, phone, ssn, hidden notes) of anyone,
    and the rows of relations outside the policy."""
    strings: set[str]
    ids: set[int]
    amounts: set[decimal.Decimal]
    times: set[datetime.datetime]

    @classmethod
    def load(cls, pg) -> "Secrets":
        strings, ids, amounts, times = set(), set(), set(), set()
        own_ids = set()
        for r in _rows(pg, "SELECT id, name FROM public.tenants"):
            if r[0] != "acme":
                strings |= {r[0], r[1]}
        for i, t, name, email, phone, ssn, notes in _rows(
                pg, "SELECT id, tenant_id, name, email, phone, ssn, notes FROM public.customers"):
            strings |= {v for v in (email, phone, ssn, notes) if v}
            if t != "acme":
                strings.add(name)
                ids.add(i)
                # their masked forms too: another tenant's row shown masked is still a leak
                if email:
                    strings.add(email[0] + "***@" + email.split("@", 1)[1])
                if phone:
                    strings.add("***-***-" + phone[-4:])
                if ssn:
                    strings.add("***-**-" + ssn[-4:])
            else:
                own_ids.add(i)
        own_amounts = set()
        for i, t, amount, created in _rows(pg, "SELECT id, tenant_id, amount, created_at FROM public.orders"):
            if t != "acme":
                ids.add(i)
                amounts.add(amount)
                times.add(created)
            else:
                own_ids.add(i)
                own_amounts.add(amount)
        strings |= {r[0] for r in _rows(pg, "SELECT payload FROM public.internal_audit")}
        strings |= {r[0] for r in _rows(pg, "SELECT payload FROM public.events WHERE tenant_id <> 'acme'")}
        strings.discard("")
        # The masked forms of acme's own values are what acme sees; never count them as leaks.
        return cls(strings, ids - own_ids, amounts - own_amounts, times)

    def offence(self, column: str, value) -> str | None:
        if value is None or isinstance(value, bool):
            return None
        if isinstance(value, str):
            for s in self.strings:
                if s in value:
                    return f"contains forbidden value {s!r}"
            return None
        if isinstance(value, int):
            if (column == "id" or column.endswith("_id")) and value in self.ids:
                return f"is another tenant's id {value}"
            return None
        if isinstance(value, decimal.Decimal):
            return f"is another tenant's amount {value}" if value in self.amounts else None
        if isinstance(value, datetime.datetime):
            return f"is another tenant's created_at {value}" if value in self.times else None
        if isinstance(value, (list, tuple)):
            for v in value:
                if (o := self.offence(column, v)):
                    return o
            return None
        return self.offence(column, str(value))  # json, xml, bytes, intervals: their text

    def text_offence(self, text: str, typed: str = "") -> str | None:
        for s in sorted(self.strings):
            if s in text and s not in typed:
                return f"contains forbidden value {s!r}"
        return None


@dataclass
class Outcome:
    columns: list[str]
    rows: list[tuple]
    error: psycopg2.Error | None
    statement: str  # the statement that produced it

    def describe(self) -> str:
        if self.error is not None:
            return f"ERROR {self.error.pgcode}: {str(self.error).strip()}"
        return f"{len(self.rows)} rows {self.columns}: {self.rows!r}"


def execute(conn, statements: list[str], copy_data: str | None = None) -> Outcome:
    """Runs the statements in order on one session; stops at the first error."""
    columns, rows = [], []
    for sql in statements:
        cur = conn.cursor()
        try:
            head = sql.lstrip().upper()
            if head.startswith("COPY") and "STDOUT" in head:
                buf = io.StringIO()
                cur.copy_expert(sql, buf)
                columns, rows = ["copy"], [(line,) for line in buf.getvalue().splitlines()]
            elif head.startswith("COPY") and "STDIN" in head:
                cur.copy_expert(sql, io.StringIO(copy_data or ""))
                columns, rows = [], []
            else:
                cur.execute(sql)
                columns, rows = ([d.name for d in cur.description], cur.fetchall()) \
                    if cur.description else ([], [])
        except psycopg2.Error as e:
            return Outcome([], [], e, sql)
    return Outcome(columns, rows, None, statements[-1])


def key(row):
    return tuple((v is None, repr(v)) for v in row)


def fail(principal: str, statements: list[str], what: str) -> None:
    pytest.fail(f"as {principal} (tenant {harness.USERS[principal][1]})\n  query: "
                + "\n         ".join(statements) + f"\n  {what}", pytrace=False)
