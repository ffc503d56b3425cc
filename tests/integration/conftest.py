"""pytest fixtures: one real PostgreSQL 15 and one real tenantwall per session (harness.py), client
connections through the proxy, and ground truth read directly from PostgreSQL."""
import os
import signal
import sys

import pytest

sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))

import checks  # noqa: E402
import harness  # noqa: E402


def _terminate(signum, frame):
    raise KeyboardInterrupt  # pytest then tears the fixtures down: no stray postgres or proxy


def pytest_configure(config):
    signal.signal(signal.SIGTERM, _terminate)


@pytest.fixture(scope="session")
def pg():
    server = harness.Postgres()
    server.start()
    yield server
    server.stop()


@pytest.fixture(scope="session")
def _proxy_holder(pg):
    holder = {"proxy": harness.Proxy(pg).start()}
    yield holder
    holder["proxy"].stop()


@pytest.fixture
def proxy(_proxy_holder, pg):
    """The shared proxy; fails the test during which it died, and restarts it for the next one."""
    px = _proxy_holder["proxy"]
    if not px.alive():
        px.stop()
        px = _proxy_holder["proxy"] = harness.Proxy(pg).start()
    yield px
    if not px.alive():
        pytest.fail(f"tenantwall died during this test (exit {px.process.returncode}); its log:\n"
                    f"{px.output[-8000:]}", pytrace=False)


@pytest.fixture
def start_proxy(pg):
    """Starts extra proxies with a special configuration; stops them after the test."""
    started = []

    def start(**kw):
        px = harness.Proxy(pg, **kw)
        started.append(px)
        return px.start()

    yield start
    for px in started:
        px.stop()


@pytest.fixture
def connect(proxy):
    """connect(user, **kw): a psycopg2 connection through the shared proxy, closed after the test."""
    conns = []

    def make(user="alice", password=None, **kw):
        c = proxy.connect(user, password, **kw)
        conns.append(c)
        return c

    yield make
    for c in conns:
        try:
            c.close()
        except Exception:  # noqa: BLE001 - already broken by the test
            pass


@pytest.fixture(scope="session")
def world(pg):
    return checks.World.load(pg)


@pytest.fixture
def unchanged(pg):
    """Asserts the database was not modified by the test; restores the sample data if it was."""
    before = pg.snapshot()
    tables_before = pg.tables()

    def check(what: str):
        after = pg.snapshot()
        tables_after = pg.tables()
        if after != before:
            diff = {t: {"before": before[t], "after": after[t]} for t in before if before[t] != after[t]}
            pg.reset_data()
            pytest.fail(f"{what} CHANGED the database: {diff}", pytrace=False)
        if tables_after != tables_before:
            new = sorted(set(tables_after) - set(tables_before))
            gone = sorted(set(tables_before) - set(tables_after))
            pytest.fail(f"{what} changed the schema: new relations {new}, dropped {gone}",
                        pytrace=False)

    return check
