"""SQLAlchemy (what Superset uses) through the proxy: the inspector sees only the policy's tables
and visible columns, and Core queries are tenant-scoped and masked."""
import sqlalchemy as sa


def engine_for(proxy, user, password):
    return sa.create_engine(
        f"postgresql+psycopg2://{user}:{password}@127.0.0.1:{proxy.port}/app?sslmode=disable",
        poolclass=sa.pool.NullPool)


def test_inspector_shows_only_the_visible_schema(proxy):
    engine = engine_for(proxy, "alice", "alice-secret")
    try:
        inspector = sa.inspect(engine)
        assert sorted(inspector.get_table_names()) == ["countries", "customers", "orders", "tenants"]
        columns = [c["name"] for c in inspector.get_columns("customers")]
        assert columns == ["id", "tenant_id", "name", "email", "phone", "ssn"], columns
        assert inspector.get_pk_constraint("customers")["constrained_columns"] == ["id"]
    finally:
        engine.dispose()


def test_core_queries_are_scoped_and_masked(proxy):
    engine = engine_for(proxy, "bob", "bob-secret")
    try:
        customers = sa.Table("customers", sa.MetaData(), autoload_with=engine)
        with engine.connect() as conn:
            rows = conn.execute(sa.select(customers.c.id, customers.c.ssn)
                                .order_by(customers.c.id)).all()
            assert [tuple(r) for r in rows] == [(4, "***-**-9012"), (5, "***-**-0123")], rows
            n = conn.execute(sa.text("SELECT count(*) FROM orders WHERE amount > :a"),
                             {"a": 100}).scalar()
            assert n == 3, n  # globex: 999.99, 500, 120
    finally:
        engine.dispose()
