"""dromos-gateway's stop: SIGTERM drains (no new clients, what is in
flight answered, kept-alive clients told to close), a second signal or the
deadline ends it, and a new gateway can take the address over meanwhile.

A request is held in flight by stopping the broker (SIGSTOP) after the
gateway has forwarded it; SIGCONT lets the real broker answer it."""
import json
import os
import signal
import socket
import threading
import time

import pytest

from dromos import appliance_on, wait_for
from gateway import Gateway, gateway_lines, settle
from test_gateway import PROVIDERS, capture, ctl, new_client

KEY = "sk-PLANTEDdrain0123456789abcdef"
CONN = "acme-drain-openai"


@pytest.fixture(scope="module")
def app(pg):
    with appliance_on(pg, "gateway_drain") as a:
        yield a


@pytest.fixture(scope="module")
def tokens(app):
    for p in PROVIDERS:
        ctl(app, "provider", "add", p)
    writer = new_client(app, "drain-writer", "connections:write:acme-*")
    reader = new_client(app, "drain-reader", "token:read:acme-*")
    with Gateway(app, tls=False) as g:
        g.start()
        st, _, doc = capture(g, writer, "openai", CONN, {"api_key": KEY})
        assert st == 201, (st, doc)
    return {"writer": writer, "reader": reader}


def refused(port):
    """Nothing listens on port.  A connection reset is one that reached
    the listener's queue as it closed: ask again."""
    try:
        socket.create_connection(("127.0.0.1", port), timeout=2).close()
        return False
    except ConnectionRefusedError:
        return True
    except ConnectionResetError:
        return False


def in_flight(g):
    _, _, text = g.metrics()
    for line in text.splitlines():
        if line.startswith("dromos_gateway_requests_in_flight "):
            return int(float(line.split()[1]))
    raise AssertionError("no in-flight gauge")


class Held:
    """A token read sent through g while the broker is stopped: it stays in
    flight until the broker is continued.  Use as a context manager: the
    broker is always continued on the way out."""

    def __init__(self, app, g, reader):
        self.pid = app.broker_pid()
        self.g = g
        self.reader = reader
        self.result = None

    def _read(self):
        c = self.g.connection(timeout=30)
        try:
            c.request("GET", f"/v1/token/{CONN}",
                      headers={"Authorization": f"Bearer {self.reader}"})
            r = c.getresponse()
            self.result = (r.status, r.read())
        except OSError as e:
            self.result = (None, repr(e).encode())
        finally:
            c.close()

    def __enter__(self):
        os.kill(self.pid, signal.SIGSTOP)
        self.t = threading.Thread(target=self._read)
        self.t.start()
        # The gauge counts the read once the gateway has it; metrics are
        # served by another thread than the stopped broker's.
        wait_for(lambda: in_flight(self.g) >= 1, 10, "the read in flight")
        return self

    def cont(self):
        os.kill(self.pid, signal.SIGCONT)

    def join(self):
        self.t.join(30)
        assert not self.t.is_alive(), "the read never ended"
        return self.result

    def __exit__(self, *exc):
        self.cont()
        self.t.join(30)


@pytest.mark.parametrize("threads", [1, 3])
def test_drain_answers_in_flight_then_exits(app, tokens, threads):
    with Gateway(app, tls=False, extra=f"threads {threads}\n") as g:
        g.start()
        kept = g.connection()
        kept.request("GET", "/v1/health")
        r = kept.getresponse()
        r.read()
        assert r.status == 200 and r.getheader("Connection") != "close"
        with Held(app, g, tokens["reader"]) as held:
            g.proc.send_signal(signal.SIGTERM)
            wait_for(lambda: refused(g.port), 5, "the listener closed")
            if threads == 1:
                # The loop that holds the read serves what it has: the
                # kept-alive client is answered and told to close.  (With
                # several loops, the kept connection's loop may have had
                # nothing in flight, ended, and closed it, idle.)
                kept.request("GET", "/v1/health")
                r = kept.getresponse()
                r.read()
                assert r.status == 200
                assert r.getheader("Connection") == "close"
            kept.close()
            time.sleep(0.3)
            assert g.proc.poll() is None, "exited with a request in flight"
            assert "draining (1 request in flight)" in g.logtext()
            held.cont()
            st, body = held.join()
        assert st == 200, (st, body)
        assert json.loads(body)["credentials"]["key"] == KEY
        assert g.proc.wait(timeout=5) == 0
        assert "drained: every request was answered" in g.logtext()


def test_second_signal_ends_at_once(app, tokens):
    with Gateway(app, tls=False) as g:
        g.start()
        with Held(app, g, tokens["reader"]) as held:
            g.proc.send_signal(signal.SIGTERM)
            wait_for(lambda: refused(g.port), 5, "the listener closed")
            assert g.proc.poll() is None
            g.proc.send_signal(signal.SIGTERM)
            assert g.proc.wait(timeout=5) == 0
            st, body = held.join()
        assert st == 503, (st, body)
        assert json.loads(body)["type"] == "urn:dromos:problem:upstream-unavailable"
        assert "again: exiting now" in g.logtext()


def test_drain_deadline(app, tokens):
    # A client that never finishes its body keeps a request in flight; the
    # drain waits the broker timeout and a second for it, not forever (the
    # client timeout, 30 s here, would be later).
    with Gateway(app, tls=False, extra="broker timeout 1\n") as g:
        g.start()
        s = socket.create_connection(("127.0.0.1", g.port), timeout=10)
        try:
            s.sendall(f"POST /v1/connections HTTP/1.1\r\nHost: x\r\n"
                      f"Authorization: Bearer {tokens['writer']}\r\n"
                      "Content-Type: application/json\r\n"
                      "Content-Length: 100\r\n\r\n{".encode())
            wait_for(lambda: in_flight(g) >= 1, 10, "the upload in flight")
            t0 = time.monotonic()
            g.proc.send_signal(signal.SIGTERM)
            assert g.proc.wait(timeout=10) == 0
            took = time.monotonic() - t0
        finally:
            s.close()
        assert 1.5 <= took < 5, took
        assert "drain took too long: 1 request cut short" in g.logtext()


def test_new_gateway_takes_the_address_over(app, tokens):
    with Gateway(app, tls=False) as old:
        old.start()
        # A second gateway on the same address starts beside the first.
        with Gateway(app, tls=False, port=old.port) as new:
            new.start(wait=False)
            wait_for(lambda: "gateway: ready" in new.logtext(), 10, "the new gateway")
            assert new.proc.poll() is None, new.logtext()
            old.proc.send_signal(signal.SIGTERM)
            assert old.proc.wait(timeout=5) == 0
            for i in range(20):
                auth = {"Authorization": f"Bearer {tokens['reader']}",
                        "X-Request-Id": f"takeover-{i}"}
                st, _, body = new.request("GET", f"/v1/token/{CONN}", headers=auth)
                assert st == 200 and json.loads(body)["credentials"]["key"] == KEY
            settle()
            assert all(len(gateway_lines(new, f"takeover-{i}")) == 1 for i in range(20))
            assert new.proc.poll() is None
