"""SQLAlchemy 1.4 (Debian's python3-sqlalchemy) with psycopg2 through the proxy, as Superset and
similar tools use it: the inspector (tables, views, columns, keys, indexes) and MetaData.reflect
see only the policy's tables and visible columns; text() with bound parameters and Core selects
over reflected and declared tables are tenant-scoped and masked; a refusal is a clean
ProgrammingError and the connection goes on after rollback; stream_results runs a server-side
cursor. Every row is judged against the database itself. test_clients_sqlalchemy.py is the
short tour."""
import pytest
import sqlalchemy as sa
from sqlalchemy import exc

from checks import assert_no_leak, mask_email, mask_phone, mask_ssn, tenant_of
from harness import USERS

CUSTOMER_COLUMNS = ["id", "tenant_id", "name", "email", "phone", "ssn"]
VISIBLE = {
    "countries": ["code", "name"],
    "customers": CUSTOMER_COLUMNS,
    "orders": ["id", "tenant_id", "customer_id", "amount", "status", "created_at"],
    "tenants": ["id", "name"],
}
USERS_UNDER_TEST = ["alice", "bob"]


def make_engine(proxy, user, **kw):
    return sa.create_engine(
        f"postgresql+psycopg2://{user}:{USERS[user][0]}@127.0.0.1:{proxy.port}/app",
        connect_args={"sslmode": "disable", "connect_timeout": 10}, future=True, **kw)


@pytest.fixture(params=USERS_UNDER_TEST)
def user(request):
    return request.param


@pytest.fixture
def engine(proxy, user):
    e = make_engine(proxy, user, poolclass=sa.pool.NullPool)
    yield e
    e.dispose()


def masked(world, tenant, ids=None):
    return [(c["id"], c["tenant_id"], c["name"], mask_email(c["email"]), mask_phone(c["phone"]),
             mask_ssn(c["ssn"])) for c in world.customers_of(tenant) if ids is None or c["id"] in ids]


def check(world, user, what, result_rows, columns, want=None):
    rows = [tuple(r) for r in result_rows]
    assert_no_leak(world, user, what, columns, rows)
    if want is not None:
        assert rows == want, (f"as {user} (tenant {tenant_of(user)}) via SQLAlchemy: wrong rows\n"
                              f"  query: {what}\n  got:  {rows}\n  want: {want}")
    return rows


def pgcode(e: exc.DBAPIError) -> str | None:
    return getattr(e.orig, "pgcode", None)


# -- the inspector (what Superset calls) --------------------------------------------------------

def test_inspector_tables_and_views(engine, user):
    insp = sa.inspect(engine)
    assert sorted(insp.get_table_names()) == sorted(VISIBLE), (
        f"as {user}: get_table_names() = {insp.get_table_names()}")
    assert sorted(insp.get_table_names(schema="public")) == sorted(VISIBLE)
    assert insp.get_view_names() == [], f"as {user}: get_view_names() = {insp.get_view_names()}"
    assert "public" in insp.get_schema_names(), insp.get_schema_names()
    assert insp.has_table("customers") and not insp.has_table("internal_audit"), (
        f"as {user}: has_table(internal_audit) must be False: the table is not in the policy")


def test_inspector_columns(engine, user):
    insp = sa.inspect(engine)
    for table, want in VISIBLE.items():
        cols = insp.get_columns(table)
        assert [c["name"] for c in cols] == want, (
            f"as {user}: get_columns({table!r}) = {[c['name'] for c in cols]}, want {want}")
    by_name = {c["name"]: c for c in insp.get_columns("customers")}
    for name in ("email", "phone", "ssn"):
        assert isinstance(by_name[name]["type"], sa.Text), f"{name}: {by_name[name]['type']!r}"
    assert isinstance(by_name["id"]["type"], sa.Integer), by_name["id"]
    with pytest.raises(exc.NoSuchTableError):
        insp.get_columns("internal_audit")


def test_inspector_keys_and_indexes(engine, user):
    insp = sa.inspect(engine)
    assert insp.get_pk_constraint("customers")["constrained_columns"] == ["id"]
    assert insp.get_pk_constraint("countries")["constrained_columns"] == ["code"]
    fks = {(tuple(fk["constrained_columns"]), fk["referred_table"], tuple(fk["referred_columns"]))
           for fk in insp.get_foreign_keys("orders")}
    assert fks == {(("tenant_id",), "tenants", ("id",)), (("customer_id",), "customers", ("id",))}, fks
    for table in VISIBLE:
        for index in insp.get_indexes(table):
            assert set(index["column_names"]) <= set(VISIBLE[table]), (
                f"as {user}: an index on {table} names a hidden column: {index}")


def test_reflect_everything(engine, user):
    md = sa.MetaData()
    md.reflect(bind=engine)
    assert sorted(md.tables) == sorted(VISIBLE), f"as {user}: MetaData.reflect found {sorted(md.tables)}"
    for name, table in md.tables.items():
        assert [c.name for c in table.columns] == VISIBLE[name], (name, [c.name for c in table.columns])


# -- queries ------------------------------------------------------------------------------------

def test_text_with_bound_parameters(engine, world, user):
    tenant = tenant_of(user)
    sql = ("SELECT id, tenant_id, name, email, phone, ssn FROM customers "
           "WHERE id BETWEEN :lo AND :hi ORDER BY id")
    with engine.connect() as conn:
        rows = conn.execute(sa.text(sql), {"lo": 1, "hi": 6}).all()
        check(world, user, sql, rows, CUSTOMER_COLUMNS, masked(world, tenant))
        for cid in range(1, 6):
            rows = conn.execute(sa.text("SELECT id, tenant_id, name, email, phone, ssn FROM customers "
                                        "WHERE id = :id"), {"id": cid}).all()
            check(world, user, f"customers WHERE id = {cid}", rows, CUSTOMER_COLUMNS,
                  masked(world, tenant, {cid}))
        total = conn.execute(sa.text("SELECT sum(amount) FROM orders WHERE status = :s"),
                             {"s": "paid"}).scalar()
        want = sum(o["amount"] for o in world.orders_of(tenant) if o["status"] == "paid")
        assert total == want, f"as {user}: sum of paid orders {total}, want {want}"


def test_core_select_over_reflected_table(engine, pg, world, user):
    tenant = tenant_of(user)
    md = sa.MetaData()
    customers = sa.Table("customers", md, autoload_with=engine)
    orders = sa.Table("orders", md, autoload_with=engine)
    assert "notes" not in customers.c, "reflected customers has the hidden column notes"
    stmt = (sa.select(customers.c.name, customers.c.email, sa.func.count(orders.c.id).label("n"),
                      sa.func.sum(orders.c.amount).label("total"))
            .select_from(customers.outerjoin(orders, orders.c.customer_id == customers.c.id))
            .where(customers.c.id < sa.bindparam("limit_id"))
            .group_by(customers.c.name, customers.c.email)
            .order_by(customers.c.name))
    with engine.connect() as conn:
        rows = conn.execute(stmt, {"limit_id": 100}).all()
    _, want = pg.truth(tenant, "SELECT c.name, c.email, count(o.id), sum(o.amount) FROM customers c "
                               "LEFT JOIN orders o ON o.customer_id = c.id WHERE c.id < 100 "
                               "GROUP BY c.name, c.email ORDER BY c.name")
    check(world, user, str(stmt), rows, ["name", "email", "n", "total"], want)


def test_core_select_over_declared_table(engine, world, user):
    tenant = tenant_of(user)
    customers = sa.Table("customers", sa.MetaData(), *(sa.Column(c, sa.Integer if c == "id" else sa.Text)
                                                       for c in CUSTOMER_COLUMNS))
    with engine.connect() as conn:
        rows = conn.execute(sa.select(customers).order_by(customers.c.id)).all()
        check(world, user, "select(customers)", rows, CUSTOMER_COLUMNS, masked(world, tenant))
        # The mask is applied before any predicate: raw values find nothing, masked ones match.
        for c in world.customers:
            raw = conn.execute(sa.select(customers.c.id).where(customers.c.ssn == c["ssn"])).all()
            assert raw == [], f"as {user}: WHERE ssn = raw {c['ssn']!r} matched {raw}: masks are an oracle"
        mine = world.customers_of(tenant)[0]
        hit = conn.execute(sa.select(customers.c.id).where(customers.c.ssn == mask_ssn(mine["ssn"]))).all()
        assert [r[0] for r in hit] == [c["id"] for c in world.customers_of(tenant)
                                       if mask_ssn(c["ssn"]) == mask_ssn(mine["ssn"])], hit


def test_refusal_then_rollback_and_reuse(engine, world, user):
    tenant = tenant_of(user)
    other = "acme" if tenant == "globex" else "globex"
    customers = sa.table("customers", *(sa.column(c) for c in CUSTOMER_COLUMNS))
    with engine.connect() as conn:
        with pytest.raises(exc.ProgrammingError) as info:
            conn.execute(sa.select(customers).where(customers.c.tenant_id == other)).all()
        assert pgcode(info.value) == "42501", f"as {user}: tenant_id = {other!r}: {info.value}"
        with pytest.raises(exc.InternalError) as info:  # psycopg2 began a transaction: aborted now
            conn.execute(sa.text("SELECT 1")).all()
        assert pgcode(info.value) == "25P02", info.value
        conn.rollback()
        with pytest.raises(exc.ProgrammingError) as info:
            conn.execute(sa.text("SELECT * FROM internal_audit")).all()
        assert pgcode(info.value) == "42501", info.value
        conn.rollback()
        rows = conn.execute(sa.select(customers).order_by(customers.c.id)).all()
        check(world, user, "select(customers) after refusals", rows, CUSTOMER_COLUMNS, masked(world, tenant))


def test_stream_results_server_side_cursor(engine, world, user):
    """stream_results makes psycopg2 use a named cursor: DECLARE ... CURSOR, then FETCH."""
    tenant = tenant_of(user)
    sql = "SELECT id, tenant_id, name, email, phone, ssn FROM customers ORDER BY id"
    with engine.connect() as conn:
        result = conn.execution_options(stream_results=True, max_row_buffer=1).execute(sa.text(sql))
        rows = [tuple(r) for r in result.partitions(1) for r in r]
        check(world, user, f"{sql} (stream_results)", rows, CUSTOMER_COLUMNS, masked(world, tenant))


def test_pooled_engines_of_two_tenants_interleaved(proxy, world):
    engines = {u: make_engine(proxy, u, pool_size=2) for u in USERS_UNDER_TEST}
    try:
        for _ in range(5):
            for u, e in engines.items():
                with e.connect() as conn:
                    rows = conn.execute(sa.text("SELECT id, tenant_id, name, email, phone, ssn "
                                                "FROM customers ORDER BY id")).all()
                    check(world, u, "pooled select", rows, CUSTOMER_COLUMNS, masked(world, tenant_of(u)))
    finally:
        for e in engines.values():
            e.dispose()
