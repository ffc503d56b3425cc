"""Graceful drain on SIGTERM: no new logins, idle sessions closed at once with 57P01, a session
inside a transaction may finish it (and is closed right after), then the process exits 0."""
import signal
import time

import psycopg2
import pytest


def wait_exit(px, seconds):
    deadline = time.monotonic() + seconds
    while time.monotonic() < deadline:
        if px.process.poll() is not None:
            px._reader.join(5)  # the thread reading the proxy's output may lag behind its exit
            return px.process.returncode
        time.sleep(0.05)
    return None


def test_sigterm_drains(start_proxy):
    px = start_proxy()
    idle = px.connect("alice")
    busy = px.connect("bob", autocommit=False)
    cur = busy.cursor()
    cur.execute("SELECT count(*) FROM customers")  # opens a transaction
    assert cur.fetchall() == [(2,)]

    px.process.send_signal(signal.SIGTERM)
    time.sleep(0.5)
    with pytest.raises(psycopg2.OperationalError):
        px.connect("carol").close()  # no new logins while draining
    with pytest.raises(psycopg2.Error) as info:
        idle.cursor().execute("SELECT 1")
    assert "administrator command" in str(info.value) or idle.closed, info.value
    assert px.process.poll() is None, "the proxy stopped before the open transaction ended"

    cur.execute("SELECT name FROM customers ORDER BY id")  # the transaction goes on
    assert [r[0] for r in cur.fetchall()] == ["Gina Grant", "Gus Gold"]
    busy.commit()
    assert wait_exit(px, 10) == 0, px.output
    assert "draining on signal" in px.output


def test_second_signal_stops_at_once(start_proxy):
    px = start_proxy()
    stuck = px.connect("alice", autocommit=False)
    stuck.cursor().execute("SELECT 1")  # a transaction that would hold the drain
    started = time.monotonic()
    px.process.send_signal(signal.SIGTERM)
    time.sleep(0.3)
    assert px.process.poll() is None, "the open transaction should hold the first signal"
    px.process.send_signal(signal.SIGTERM)
    assert wait_exit(px, 10) == 0
    assert time.monotonic() - started < 5
    assert "stopping now on a second signal" in px.output
