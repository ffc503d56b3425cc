"""Fixtures of the security suite: the integration fixtures (one real PostgreSQL 15, the real
tenantwall binary; tests/integration/conftest.py) plus what an attacker's verdict needs: the
other tenant's data read directly from PostgreSQL, and a fresh session per case."""
import importlib.util
import os
import signal
import sys

import pytest

_INTEGRATION = os.path.join(os.path.dirname(os.path.dirname(os.path.abspath(__file__))), "integration")
sys.path.insert(0, _INTEGRATION)
sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))

# The integration conftest under a module name of its own (both files are called conftest.py).
_spec = importlib.util.spec_from_file_location("tenantwall_integration_fixtures",
                                               os.path.join(_INTEGRATION, "conftest.py"))
_fixtures = importlib.util.module_from_spec(_spec)
_spec.loader.exec_module(_fixtures)

pg = _fixtures.pg
_proxy_holder = _fixtures._proxy_holder
proxy = _fixtures.proxy
start_proxy = _fixtures.start_proxy
connect = _fixtures.connect
world = _fixtures.world
unchanged = _fixtures.unchanged


@pytest.fixture(scope="session")
def hostile_world(pg, _proxy_holder):
    """The extra objects of support.EXTRA_OBJECTS in app and app_truth, and what acme must never see."""
    import harness
    import support
    support.create_extra_objects(pg, "app")
    support.create_extra_objects(pg, "app_truth")  # the tenant oracle sees the same inheritance
    # tenantwall reads the schema's inheritance and keys at start and every minute: restart the
    # shared proxy so it knows the objects just created (customers_archive).
    _proxy_holder["proxy"].stop()
    _proxy_holder["proxy"] = harness.Proxy(pg).start()
    return support.Secrets.load(pg)


def pytest_configure(config):
    signal.signal(signal.SIGTERM, _fixtures._terminate)
