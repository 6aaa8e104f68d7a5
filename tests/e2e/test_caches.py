"""The broker's read caches across brokers: two broker processes on one
database; what one changes (or an operator changes in SQL) the other stops
serving as soon as the database announces it (unpriv/notify.c), far
sooner than the caches' 5 s lifetime; while the announcement channel is
down nothing is served from memory."""
import json
import os
import time

import psycopg2
import pytest

from dromos import REPO, api, brokers_on_one_database, dromosctl, wait_for

DB = "caches"
TTL = 5.0          # CACHE_TTL_MS (unpriv/cache.h)
PROMPT = 1.5       # what "at once" must mean here: well under TTL
KEY1 = "sk-PLANTEDcacheOne0123456789abcd"
KEY2 = "sk-PLANTEDcacheTwo0123456789abcd"
KEY3 = "sk-PLANTEDcacheThree123456789abc"


@pytest.fixture(scope="module")
def pair(pg):
    with brokers_on_one_database(pg, DB) as (a, b):
        wait_for(lambda: "change channel: listening" in b.logtext(), 10,
                 "the second broker listening")
        yield a, b


def sql(app, stmt, args=()):
    conn = psycopg2.connect(app.dsn)
    conn.autocommit = True
    try:
        conn.cursor().execute(stmt, args)
    finally:
        conn.close()


def capture(app, token, conn, key):
    st, doc = api(app, "POST", "/connections", token,
                   {"provider": "openai", "connection": conn, "owner": "acme",
                    "credentials": {"api_key": key}})
    assert st == 201, doc


def key_of(app, token, conn):
    st, doc = api(app, "GET", f"/token/{conn}", token)
    return st, (doc["credentials"]["key"] if st == 200 else doc["type"])


def seen_within(pred, limit):
    """Seconds until pred() held, or None if not within limit."""
    t0 = time.monotonic()
    while time.monotonic() - t0 < limit:
        if pred():
            return time.monotonic() - t0
        time.sleep(0.02)
    return None


@pytest.fixture(scope="module")
def tokens(pair):
    a, _ = pair
    dromosctl(a, "provider", "add", os.path.join(REPO, "etc", "providers", "openai.json"))
    out = {}
    for name, scopes in (("writer", ["connections:write:acme-*", "token:read:acme-*"]),
                         ("reader", ["token:read:acme-*"])):
        args = ["client", "add", name]
        for s in scopes:
            args += ["--scope", s]
        out[name] = dromosctl(a, *args).strip()
    return out


def test_recapture_on_one_broker_seen_by_the_other(pair, tokens):
    a, b = pair
    capture(a, tokens["writer"], "acme-c1", KEY1)
    assert key_of(b, tokens["reader"], "acme-c1") == (200, KEY1)
    assert key_of(b, tokens["reader"], "acme-c1") == (200, KEY1)   # cached now
    capture(a, tokens["writer"], "acme-c1", KEY2)
    took = seen_within(lambda: key_of(b, tokens["reader"], "acme-c1") == (200, KEY2),
                       PROMPT)
    assert took is not None, "the second broker served the replaced credential"


def test_delete_in_sql_seen_at_once(pair, tokens):
    a, b = pair
    capture(a, tokens["writer"], "acme-c2", KEY1)
    assert key_of(b, tokens["reader"], "acme-c2") == (200, KEY1)
    sql(a, "DELETE FROM connections WHERE id = %s", ("acme-c2",))
    for app in (a, b):
        took = seen_within(lambda: key_of(app, tokens["reader"], "acme-c2")[0] == 404,
                           PROMPT)
        assert took is not None, "a deleted connection was still served"


def test_revoked_client_refused_by_the_other_broker(pair, tokens):
    a, b = pair
    tok = dromosctl(a, "client", "add", "shortlived", "--scope", "token:read:acme-*").strip()
    capture(a, tokens["writer"], "acme-c3", KEY1)
    assert key_of(b, tok, "acme-c3") == (200, KEY1)      # the client is cached in b
    dromosctl(a, "client", "revoke", "shortlived")
    took = seen_within(lambda: key_of(b, tok, "acme-c3")[0] == 401, PROMPT)
    assert took is not None, "a revoked client was still accepted by the other broker"


def test_provider_update_seen_by_the_other_broker(pair, tokens):
    a, b = pair
    capture(a, tokens["writer"], "acme-c4", KEY1)
    st, doc = api(b, "GET", "/token/acme-c4", tokens["reader"])
    assert st == 200 and doc["credentials"]["prefix"] == "Bearer "
    prov = json.load(open(os.path.join(REPO, "etc", "providers", "openai.json")))
    prov["apply"]["prefix"] = "Token "
    try:
        dromosctl(a, "provider", "update", "-", stdin=json.dumps(prov))
        took = seen_within(lambda: api(b, "GET", "/token/acme-c4", tokens["reader"])[1]
                           ["credentials"]["prefix"] == "Token ", PROMPT)
        assert took is not None, "the other broker kept the old provider document"
    finally:
        dromosctl(a, "provider", "update", os.path.join(REPO, "etc", "providers", "openai.json"))


def test_without_the_announcement_the_cache_serves(pair, tokens):
    """The cache is really used, and the trigger is what keeps it honest:
    with the trigger disabled a change made in SQL is not seen until the
    entry expires."""
    a, b = pair
    capture(a, tokens["writer"], "acme-c5", KEY1)
    capture(a, tokens["writer"], "acme-c6", KEY3)
    # The captures' own announcements must reach b before it caches
    # acme-c5, or one would make it forget the entry this test watches.
    time.sleep(1.0)
    t0 = time.monotonic()           # b has not read acme-c5 before this
    assert key_of(b, tokens["reader"], "acme-c5") == (200, KEY1)
    sql(a, "ALTER TABLE connections DISABLE TRIGGER connections_change")
    try:
        sql(a, "UPDATE connections SET secrets = (SELECT secrets FROM connections"
               " WHERE id = 'acme-c6') WHERE id = 'acme-c5'")
        # Still the cached copy (it cannot open the moved value, so the
        # database's copy would be a 500)...
        assert key_of(b, tokens["reader"], "acme-c5") == (200, KEY1)
        # ...until the entry, born at the read above, expires.
        took = seen_within(lambda: key_of(b, tokens["reader"], "acme-c5")[0] == 500,
                           TTL + 5)
        assert took is not None
        assert time.monotonic() - t0 >= TTL - 0.2
    finally:
        sql(a, "ALTER TABLE connections ENABLE TRIGGER connections_change")


def test_channel_lost_caches_held_then_back(pair, tokens):
    a, b = pair
    capture(a, tokens["writer"], "acme-c7", KEY1)
    assert key_of(b, tokens["reader"], "acme-c7") == (200, KEY1)
    before = b.logtext().count("change channel: listening")
    sql(a, "ALTER TABLE connections DISABLE TRIGGER connections_change")
    try:
        # Kill every LISTENing backend: both brokers lose their channel.
        sql(a, "SELECT pg_terminate_backend(pid) FROM pg_stat_activity"
               " WHERE datname = %s AND query LIKE 'LISTEN%%'", (DB,))
        wait_for(lambda: "change channel: connection lost" in b.logtext(), 5,
                 "the broker noticing the lost channel")
        # No announcement now, and none would come: yet the change is seen,
        # because the held cache is not consulted, and the re-LISTEN empties it.
        capture(a, tokens["writer"], "acme-c7", KEY2)
        assert key_of(b, tokens["reader"], "acme-c7") == (200, KEY2)
        wait_for(lambda: b.logtext().count("change channel: listening") > before, 10,
                 "the broker listening again")
        assert key_of(b, tokens["reader"], "acme-c7") == (200, KEY2)
    finally:
        sql(a, "ALTER TABLE connections ENABLE TRIGGER connections_change")
    # And with the channel back, changes are announced again.
    capture(a, tokens["writer"], "acme-c7", KEY3)
    assert seen_within(lambda: key_of(b, tokens["reader"], "acme-c7") == (200, KEY3),
                       PROMPT) is not None


def test_no_planted_secret_in_logs(pair, tokens):
    a, b = pair
    for app in (a, b):
        text = app.logtext()
        for k in (KEY1, KEY2, KEY3):
            assert k not in text
