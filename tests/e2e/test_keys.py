"""Key versions through dromosctl (key status, rotate, rewrap) with two
brokers on one database: a rotation made through one broker is picked up
by the other the first time it meets a value sealed under the new version,
old values keep opening, and rewrap re-seals every stored secret online."""
import json
import os
import struct

import psycopg2
import pytest

from dromos import REPO, api, brokers_on_one_database, dromosctl

DB = "keys"
N = 70                      # more than two of rewrap's batches (32)
GH_SECRET = "PLANTED-keys-client-secret-41"


def key_of(i):
    return f"sk-PLANTEDkeys{i:04d}abcdefghijklmnop"


@pytest.fixture(scope="module")
def pair(pg):
    with brokers_on_one_database(pg, DB) as (a, b):
        yield a, b


def ctl_json(app, *args, rc=0):
    return json.loads(dromosctl(app, "--json", *args, rc=rc))


def capture(app, token, conn, key):
    st, doc = api(app, "POST", "/connections", token,
                   {"provider": "openai", "connection": conn, "owner": "acme",
                    "credentials": {"api_key": key}})
    assert st == 201, doc


def read(app, token, conn):
    st, doc = api(app, "GET", f"/token/{conn}", token)
    return st, (doc["credentials"]["key"] if st == 200 else doc)


def rows(app, q, args=()):
    conn = psycopg2.connect(app.dsn)
    try:
        cur = conn.cursor()
        cur.execute(q, args)
        return cur.fetchall()
    finally:
        conn.close()


def versions_in_db(app):
    conns = dict(rows(app, "SELECT key_version, count(*) FROM connections"
                           " WHERE key_version IS NOT NULL GROUP BY 1"))
    provs = [struct.unpack(">I", bytes(s)[4:8])[0] for (s,) in
             rows(app, "SELECT client_secret FROM providers WHERE client_secret IS NOT NULL")]
    return conns, provs


@pytest.fixture(scope="module")
def tokens(pair):
    a, _ = pair
    dromosctl(a, "provider", "add", os.path.join(REPO, "etc", "providers", "openai.json"))
    gh = json.load(open(os.path.join(REPO, "etc", "providers", "github.json")))
    gh["client_id"] = "keys-client"
    gh["client_secret"] = GH_SECRET
    dromosctl(a, "provider", "add", "-", stdin=json.dumps(gh))
    tok = dromosctl(a, "client", "add", "keys", "--scope", "connections:write:acme-*",
              "--scope", "token:read:acme-*").strip()
    for i in range(N):
        capture(a, tok, f"acme-k{i:03d}", key_of(i))
    return tok


def test_status_before_rotation(pair, tokens):
    a, _ = pair
    st = ctl_json(a, "key", "status")
    assert st["active"] == 1
    assert [v["version"] for v in st["versions"]] == [1]
    assert st["versions"][0]["seals"] >= N + 1
    assert st["sealed_rows"] == {"connections": {"1": N}, "provider_secrets": {"1": 1}}
    text = dromosctl(a, "key", "status")
    assert "active version   1" in text and "v1: 70" in text


def test_rotate_then_other_broker_opens_new_values(pair, tokens):
    a, b = pair
    bpid = b.broker_pid()
    gen0 = rows(a, "SELECT generation FROM keyring")[0][0]
    out = ctl_json(a, "key", "rotate")
    assert out["active"] == 2
    assert rows(a, "SELECT generation FROM keyring")[0][0] > gen0
    capture(a, tokens, "acme-new", key_of(9999))
    assert rows(a, "SELECT key_version FROM connections WHERE id = 'acme-new'") == [(2,)]
    # b's keyholder never saw version 2: it loads the stored keyring once.
    assert read(b, tokens, "acme-new") == (200, key_of(9999))
    assert "keyring generation" in b.logtext()
    assert b.broker_pid() == bpid, "the other broker restarted"
    # Old values open on both.
    for app in (a, b):
        assert read(app, tokens, "acme-k000") == (200, key_of(0))
    assert [v["version"] for v in ctl_json(b, "key", "status")["versions"]] == [1, 2]


def test_rewrap_reseals_everything_online(pair, tokens):
    a, b = pair
    before = {r[0]: bytes(r[1]) for r in rows(a, "SELECT id, secrets FROM connections")}
    audit_before = sum(1 for _ in open(a.audit))
    out = ctl_json(a, "key", "rewrap")
    assert out == {"version": 2, "connections": N, "provider_secrets": 1,
                   "changed": 0, "failed": 0}, out
    conns, provs = versions_in_db(a)
    assert conns == {2: N + 1} and provs == [2]
    after = {r[0]: bytes(r[1]) for r in rows(a, "SELECT id, secrets FROM connections")}
    assert all(after[k] != before[k] for k in before if k != "acme-new")
    # Every value still opens, through either broker, to what it was.
    for i in range(N):
        assert read(a if i % 2 else b, tokens, f"acme-k{i:03d}") == (200, key_of(i))
    # An OPEN and a SEAL per row went into the audit chain.
    lines = [json.loads(l) for l in list(open(a.audit))[audit_before:]]
    ops = [l.get("op") for l in lines]
    assert ops.count("SEAL") >= N + 1 and ops.count("OPEN") >= N + 1, set(ops)
    # Nothing left to do: a second run touches nothing.
    assert ctl_json(b, "key", "rewrap") == {"version": 2, "connections": 0,
                                            "provider_secrets": 0, "changed": 0,
                                            "failed": 0}
    assert ctl_json(a, "key", "status")["sealed_rows"]["connections"] == {"2": N + 1}


def test_rotation_through_the_other_broker(pair, tokens):
    """b adopted a's keyring, so it rotates on top of it (version 3) and
    stores it without conflict; a then meets a version-3 value."""
    a, b = pair
    apid, bpid = a.broker_pid(), b.broker_pid()
    assert ctl_json(b, "key", "rotate")["active"] == 3
    capture(b, tokens, "acme-v3", key_of(3333))
    assert read(a, tokens, "acme-v3") == (200, key_of(3333))
    assert (a.broker_pid(), b.broker_pid()) == (apid, bpid)


def test_rewrap_leaves_a_row_that_does_not_open(pair, tokens):
    a, b = pair
    dromosctl(a, "key", "rotate")
    conn = psycopg2.connect(a.dsn)
    conn.autocommit = True
    conn.cursor().execute(
        "UPDATE connections SET secrets = (SELECT secrets FROM connections"
        " WHERE id = 'acme-k001') WHERE id = 'acme-k002'")
    conn.close()
    moved = bytes(rows(a, "SELECT secrets FROM connections WHERE id = 'acme-k002'")[0][0])
    out = ctl_json(a, "key", "rewrap", rc=1)
    assert out["failed"] == 1 and out["connections"] == N + 2 - 1, out
    assert bytes(rows(a, "SELECT secrets FROM connections WHERE id = 'acme-k002'")[0][0]) == moved
    st, doc = read(b, tokens, "acme-k002")
    assert st == 500 and key_of(1) not in json.dumps(doc)
    assert "acme-k002" in a.logtext() and "does not open" in a.logtext()


def test_refused_without_the_admin_socket(pair, tokens):
    """The key commands exist only on the admin socket, not the API."""
    a, _ = pair
    for method, path in (("GET", "/keys"), ("POST", "/keys/rotate"),
                         ("POST", "/keys/rewrap")):
        st, _ = api(a, method, path, tokens)
        assert st in (404, 405), (method, path, st)


def test_no_planted_secret_in_logs(pair, tokens):
    a, b = pair
    for app in (a, b):
        text = app.logtext()
        assert GH_SECRET not in text
        for i in (0, 1, 2, 9999, 3333):
            assert key_of(i) not in text
