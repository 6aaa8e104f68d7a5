"""Stopping dromosd (and with it the broker) answers what was received:
the broker stops taking requests, answers those it has with the keyholder
still there, and only then exits.  A request is held in flight by a lock
the test takes in PostgreSQL on the table the request reads."""
import os
import signal
import socket
import subprocess
import time

import psycopg2
import pytest

from dromos import BIN, started_appliance, wait_for


@pytest.fixture
def app(pgdb):
    with started_appliance(pgdb) as a:
        yield a


class HeldRequest:
    """`dromosctl client list` (GET /clients on the admin socket) waiting
    on an ACCESS EXCLUSIVE lock of the clients table until release()."""

    def __init__(self, app, dsn):
        self.db = psycopg2.connect(dsn)
        self.db.cursor().execute("LOCK TABLE clients IN ACCESS EXCLUSIVE MODE")
        self.proc = subprocess.Popen(
            [os.path.join(BIN, "dromosctl"), "-s", app.admin, "client", "list"],
            stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True)
        watch = psycopg2.connect(dsn)
        watch.autocommit = True
        try:
            wait_for(lambda: self._waiting(watch), 5, "the request waiting on the lock")
        finally:
            watch.close()

    @staticmethod
    def _waiting(conn):
        cur = conn.cursor()
        cur.execute("SELECT count(*) FROM pg_stat_activity "
                    "WHERE wait_event_type = 'Lock' AND query ILIKE '%clients%'")
        return cur.fetchone()[0] > 0

    def release(self):
        self.db.rollback()
        self.db.close()

    def result(self, timeout=10):
        out, err = self.proc.communicate(timeout=timeout)
        return self.proc.returncode, out, err


def refused(path):
    s = socket.socket(socket.AF_UNIX, socket.SOCK_STREAM)
    try:
        s.connect(path)
        return False
    except (ConnectionRefusedError, FileNotFoundError):
        return True
    finally:
        s.close()


def test_stop_answers_the_requests_in_flight(app, pgdb):
    held = HeldRequest(app, pgdb)
    os.kill(app.proc.pid, signal.SIGTERM)
    wait_for(lambda: "stopping: dromosd is stopping" in app.logtext(), 5,
             "the broker told to stop")
    # New clients are refused at once; the one in flight still waits.
    wait_for(lambda: refused(app.sock) and refused(app.admin), 5,
             "the listening sockets closed")
    time.sleep(0.5)
    assert app.proc.poll() is None and held.proc.poll() is None
    held.release()
    rc, out, err = held.result()
    assert rc == 0, err
    assert app.proc.wait(timeout=10) == 0
    log = app.logtext()
    assert "drained: every request received was answered" in log
    assert "the broker has stopped" in log
    # The held request was answered after the stop began, and completely.
    after = log.split("stopping: dromosd is stopping")[1]
    assert "route=/clients status=200" in after
    # The chain ends with the shutdown checkpoint, as on any stop.
    pub = subprocess.run([os.path.join(BIN, "dromosctl"), "audit", "pubkey", "-k",
                          app.key], capture_output=True, text=True).stdout.strip()
    r = subprocess.run([os.path.join(BIN, "dromosctl"), "audit", "verify", "-p", pub,
                        app.audit], capture_output=True, text=True)
    assert r.returncode == 0, r.stderr


def test_stop_with_nothing_in_flight_is_quick(app):
    assert app.json("GET", "/health")[0] == 200
    t = time.monotonic()
    os.kill(app.proc.pid, signal.SIGTERM)
    assert app.proc.wait(timeout=10) == 0
    assert time.monotonic() - t < 3
    assert "drained: every request received was answered" in app.logtext()


def test_second_signal_stops_at_once(app, pgdb):
    held = HeldRequest(app, pgdb)
    os.kill(app.proc.pid, signal.SIGTERM)
    wait_for(lambda: "stopping: dromosd is stopping" in app.logtext(), 5,
             "the broker told to stop")
    os.kill(app.proc.pid, signal.SIGTERM)
    try:
        # The broker's worker still waits on the database (its statement
        # timeout is 5 s) before it can be stopped; nothing waits longer.
        assert app.proc.wait(timeout=9) == 0
    finally:
        held.release()
    rc, _, err = held.result()
    assert rc != 0
    log = app.logtext()
    assert "second signal: stopping the broker now" in log
    assert "stopping with 1 request unanswered" in log


def test_broker_and_dromosd_signalled_together(app, pgdb):
    # What a service manager does to the whole group: both get SIGTERM.
    held = HeldRequest(app, pgdb)
    broker = app.broker_pid()
    os.kill(broker, signal.SIGTERM)
    os.kill(app.proc.pid, signal.SIGTERM)
    wait_for(lambda: refused(app.sock), 5, "the listening socket closed")
    time.sleep(0.3)
    held.release()
    rc, _, err = held.result()
    assert rc == 0, err
    assert app.proc.wait(timeout=10) == 0
    assert "drained: every request received was answered" in app.logtext()
