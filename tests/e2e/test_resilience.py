"""The broker without its database: 503 problems, then automatic recovery;
reads that wait on the keyholder: each gets its own answer, and a stop
under load ends cleanly."""
import contextlib
import http.client
import json
import os
import shutil
import signal
import threading

import pytest

from conftest import PgCluster
from dromos import REPO, Appliance, UnixHTTPConnection, dromosctl, wait_for


@contextlib.contextmanager
def _appliance(n=40):
    """A private cluster and an appliance with the openai provider, an admin
    client and n captured connections rd-00.., each with a key of its own:
    (pg, app, headers, keys); everything stopped and removed afterwards."""
    pg = PgCluster()
    app = None
    try:
        pg.start()
        app = Appliance(pg.dsn())
        app.start()
        dromosctl(app, "provider", "add", os.path.join(REPO, "etc", "providers", "openai.json"))
        tok = dromosctl(app, "client", "add", "svc", "--scope", "admin").strip()
        hdr = {"Authorization": f"Bearer {tok}", "Content-Type": "application/json"}
        keys = {}
        for i in range(n):
            cid, key = f"rd-{i:02d}", f"sk-read{i:02d}" + "x" * 24
            body = json.dumps({"provider": "openai", "connection": cid, "owner": "o",
                               "credentials": {"api_key": key}})
            assert app.request("POST", "/connections", body, hdr)[0] == 201
            keys[cid] = key
        yield pg, app, hdr, keys
    finally:
        if app:
            app.stop()
            shutil.rmtree(app.dir, ignore_errors=True)
        pg.stop()


def _reader(app, hdr, ids, rounds, out):
    """One keep-alive connection reading ids in turn; what each answer held."""
    c = UnixHTTPConnection(app.sock, timeout=15)
    try:
        for r in range(rounds):
            for cid in ids:
                c.request("GET", f"/token/{cid}", headers=hdr)
                resp = c.getresponse()
                raw = resp.read()
                out.append((cid, resp.status, raw))
    except (OSError, http.client.HTTPException) as e:
        out.append((None, None, repr(e)))
    finally:
        c.close()


def _readers(app, hdr, orders, rounds):
    """A started _reader thread per order of connection ids: (threads, outs)."""
    outs = [[] for _ in orders]
    ts = [threading.Thread(target=_reader, args=(app, hdr, ids, rounds, out))
          for ids, out in zip(orders, outs)]
    for t in ts:
        t.start()
    return ts, outs


def test_database_loss_and_reconnect():
    with _appliance(1) as (pg, app, hdr, _):
        assert app.request("GET", "/token/rd-00", None, hdr)[0] == 200

        pg.stop_server()
        st, h, raw = app.request("GET", "/token/rd-00", None, hdr)
        assert st == 503, raw
        assert h["Content-Type"] == "application/problem+json"
        assert json.loads(raw)["type"] == "urn:dromos:problem:unavailable"
        assert app.request("GET", "/ready")[0] == 503
        assert app.proc.poll() is None

        pg.start_server()
        wait_for(lambda: app.request("GET", "/token/rd-00", None, hdr)[0] == 200, 20,
                 "the broker to reconnect")
        assert app.request("GET", "/ready")[0] == 200


def test_concurrent_reads_get_their_own_credential():
    """Token reads wait for the keyholder with their connections suspended
    and many on the wire at once: 16 clients reading 40 connections in
    different orders each get exactly the credential they asked for."""
    with _appliance() as (_, app, hdr, keys):
        ids = sorted(keys)
        ts, outs = _readers(app, hdr, [ids[i:] + ids[:i] for i in range(16)], 5)
        for t in ts:
            t.join(60)
        assert not any(t.is_alive() for t in ts)
        n = 0
        for out in outs:
            assert len(out) == 5 * 40, out[-1:]
            for cid, st, raw in out:
                assert st == 200, (cid, st, raw)
                doc = json.loads(raw)
                assert doc["connection"] == cid
                assert keys[cid] in raw.decode(), (cid, raw)
                assert sum(k in raw.decode() for k in keys.values()) == 1
                n += 1
        assert n == 16 * 200
        assert app.proc.poll() is None


@pytest.mark.parametrize("who", ["dromosd", "broker"])
def test_stop_during_reads(who):
    """SIGTERM to dromosd (which hangs up the keyholder channel) or to the
    broker itself (the keyholder still answering) while reads wait on the
    keyholder: every client gets an answer or a closed connection (none
    hangs), the broker ends cleanly, with no connection still suspended
    when libmicrohttpd stops, and nothing is reported by a sanitizer."""
    with _appliance() as (_, app, hdr, keys):
        ids = sorted(keys)
        ts, outs = _readers(app, hdr, [ids] * 8, 1000)
        wait_for(lambda: sum(len(o) for o in outs) >= 400, 20, "reads under way")
        if who == "dromosd":
            app.proc.send_signal(signal.SIGTERM)
            assert app.wait_exit(15) == 0, app.logtext()[-3000:]
        else:
            os.kill(app.broker_pid(), signal.SIGTERM)
            app.wait_exit(15)
            assert "broker killed by signal" not in app.logtext()
        for t in ts:
            t.join(20)
        assert not any(t.is_alive() for t in ts)
        for out in outs:
            for cid, st, raw in out:
                assert st in (200, 503, None), (cid, st, raw)
                if st == 200:
                    assert keys[cid] in raw.decode()
        text = app.logtext()
        assert "still wait for the keyholder" not in text
        assert "suspended" not in text.lower(), text[-3000:]
