"""The OAuth 2.0 step end to end, through the broker's sockets (issue 5):
connect sessions, consent (state, PKCE S256, iss), the code exchange, the
oauth2 payload, refresh (on expiry, single-flight across threads and across
two broker processes, rotation, invalid_grant, 5xx bursts), the forced
refresh endpoint, and disconnect with RFC 7009 revocation.

The provider is the real Authlib authorization server of peers/authserver.py
(oauthpeer.py).  The browser is played by `requests` for the provider's side
and by HTTP over the broker's internal socket for the broker's side: the
broker builds its redirect URI from the default `public url`, and the
gateway (a later step) would map `<public url>/v1/...` onto the broker's
`/...`, which the helpers here do by hand.
"""
import base64
import concurrent.futures
import datetime
import hashlib
import json
import os
import secrets
import shutil
import struct
import subprocess
import threading
import time
import urllib.parse

import psycopg2
import pytest
import requests

from dromos import BIN, Appliance, appliance_on, open_sealed, sealed_ad, wait_for
from oauthpeer import oauth_peer, provider_doc  # noqa: F401

PUBLIC = "https://127.0.0.1:8443"          # dromos.conf's default public url
RETURN = PUBLIC + "/done"                   # under the public URL: allowed
OWNER = "acme"
DB = "oauth_e2e"

# Every secret the peers issued or the tests planted: none may appear in a
# log (test_zz_no_planted_secret_in_logs).
PLANTED = set()
# Logs of other appliances started by single tests (already stopped).
EXTRA_LOGS = []

_seq = iter(range(1, 1 << 30))


# ---------------------------------------------------------------- fixtures

@pytest.fixture(scope="module")
def app(pg):
    with appliance_on(pg, DB) as a:
        yield a


def ctl(app, *args, check=True, stdin=None):
    r = subprocess.run([os.path.join(BIN, "dromosctl"), "-s", app.admin, *args],
                       capture_output=True, text=True, input=stdin)
    if check and r.returncode != 0:
        raise AssertionError(f"dromosctl {args}: {r.returncode}\n{r.stdout}{r.stderr}")
    return r


def new_client(app, name, *scopes):
    args = ["client", "add", name]
    for s in scopes:
        args += ["--scope", s]
    token = ctl(app, *args).stdout.strip()
    assert token.startswith("dro_"), token
    return token


@pytest.fixture(scope="module")
def clients(app):
    return {
        # Makes connect sessions for any connection.
        "session": new_client(app, "sessions", "connect:session"),
        "reader": new_client(app, "reader", "token:read"),
        "refresher": new_client(app, "refresher", "token:refresh", "token:read"),
        "writer": new_client(app, "writer", "connections:write"),
        "admin": new_client(app, "root", "admin"),
    }


@pytest.fixture
def http():
    s = requests.Session()
    s.trust_env = False         # the peer is on loopback: never a proxy
    yield s
    s.close()


@pytest.fixture
def peer(oauth_peer):
    """The test's authorization server; what it issued is remembered for
    the log check before it stops."""
    yield oauth_peer
    remember(oauth_peer)


def remember(p):
    try:
        for t in p.tokens():
            for k in ("access_token", "refresh_token"):
                if t.get(k):
                    PLANTED.add(t[k])
        for req in p.stats()["token_requests"]:
            for k in ("code", "code_verifier", "refresh_token"):
                v = req["form"].get(k)
                if v:
                    PLANTED.add(v)
    except Exception:       # a peer that died has nothing more to tell
        pass


# ---------------------------------------------------------------- helpers

def hget(headers, name):
    """A header from Appliance.request's dict, whatever its case."""
    for k, v in headers.items():
        if k.lower() == name.lower():
            return v
    return None


def call(app, method, path, token=None, body=None, headers=None):
    h = dict(headers or {})
    if token:
        h["Authorization"] = f"Bearer {token}"
    data = None
    if body is not None:
        data = json.dumps(body)
        h.setdefault("Content-Type", "application/json")
    st, hd, raw = app.request(method, path, data, h)
    ctype = hget(hd, "Content-Type") or ""
    doc = json.loads(raw) if raw and "json" in ctype else raw
    return st, hd, doc


def is_problem(hd, doc):
    return ((hget(hd, "Content-Type") or "").startswith("application/problem+json")
            and isinstance(doc, dict) and doc.get("type", "").startswith(
                "urn:dromos:problem:"))


def cb_url(pid):
    return f"{PUBLIC}/v1/auth/callback/{pid}"


def add_provider(app, peer, token_auth="client_secret_basic", pid=None, drop=(),
                 **extra):
    """Register a client at the peer and the matching provider in the
    broker (drop: fields of provider_doc's document to leave out); the
    provider id."""
    pid = pid or f"p{next(_seq)}"
    cid = f"dromos-{pid}"
    secret = None if token_auth == "none" else "cs-" + secrets.token_urlsafe(18)
    if secret:
        PLANTED.add(secret)
    peer.register_client(cid, secret, token_auth, [cb_url(pid)])
    doc = provider_doc(peer, pid, cid, secret, token_auth=token_auth, **extra)
    for k in drop:
        del doc[k]
    ctl(app, "provider", "add", "-", stdin=json.dumps(doc))
    return pid


def new_conn(pid):
    return f"{OWNER}-{pid}-{next(_seq)}"


def parse(url):
    parts = urllib.parse.urlsplit(url)
    return parts, dict(urllib.parse.parse_qsl(parts.query, keep_blank_values=True))


def to_broker(url):
    """<public url>/v1/auth/callback/... -> the broker's /auth/callback/..."""
    assert url.startswith(PUBLIC + "/v1/auth/callback/"), url
    return url[len(PUBLIC) + len("/v1"):]


def new_session(app, clients, pid, conn, return_url=RETURN):
    body = {"owner": OWNER, "providers": [pid], "connection": conn}
    if return_url is not None:
        body["return_url"] = return_url
    st, _, doc = call(app, "POST", "/connect/sessions", clients["session"], body)
    assert st == 201, doc
    assert doc["session"].startswith("drs_")
    PLANTED.add(doc["session"])
    return doc["session"]


def auth_start(app, session, pid):
    q = urllib.parse.urlencode({"session": session, "provider": pid})
    return app.request("GET", f"/auth/start?{q}")


class Flow:
    """One consent, step by step."""

    def __init__(self, app, clients, http, pid, conn=None, return_url=RETURN):
        self.app, self.http, self.pid = app, http, pid
        self.conn = conn or new_conn(pid)
        self.session = new_session(app, clients, pid, self.conn, return_url)
        self.authz = None       # the broker's 302 target at the provider
        self.cb = None          # the provider's 302 target (our callback)

    def start(self):
        st, hd, raw = auth_start(self.app, self.session, self.pid)
        assert st == 302, (st, raw)
        self.authz = hget(hd, "Location")
        assert self.authz, hd
        _, q = parse(self.authz)
        self.state = q["state"]
        return self

    def authorize(self):
        r = self.http.get(self.authz, allow_redirects=False)
        assert r.status_code == 302, (r.status_code, r.text)
        self.cb = r.headers["Location"]
        _, q = parse(self.cb)
        if q.get("code"):
            PLANTED.add(q["code"])
        return self

    def callback(self, url=None):
        """The broker's answer to the provider's redirect: (status,
        headers, body bytes)."""
        return self.app.request("GET", to_broker(url or self.cb))

    def run(self):
        return self.start().authorize().callback()

    @property
    def state_hash(self):
        return hashlib.sha256(self.state.encode()).digest()


def connected(app, clients, http, pid, conn=None):
    """A complete consent; the connection id."""
    f = Flow(app, clients, http, pid, conn)
    st, hd, raw = f.run()
    assert st == 302, (st, raw)
    loc, q = parse(hget(hd, "Location"))
    assert loc.geturl().startswith(RETURN), loc
    assert q.get("status") == "connected" and q.get("connection") == f.conn, q
    return f.conn


def token(app, clients, conn, who="reader"):
    st, hd, doc = call(app, "GET", f"/token/{conn}", clients[who])
    assert st == 200, (st, doc)
    assert doc["strategy"] == "oauth2", doc
    return doc


def view(app, clients, conn, who="reader"):
    st, _, doc = call(app, "GET", f"/connections/{conn}", clients[who])
    assert st == 200, (st, doc)
    return doc


def peer_tokens(peer, grant=None):
    return [t for t in peer.tokens() if grant is None or t["grant_type"] == grant]


def rfc3339(s):
    return datetime.datetime.strptime(s, "%Y-%m-%dT%H:%M:%SZ").replace(
        tzinfo=datetime.timezone.utc).timestamp()


def db(app):
    c = psycopg2.connect(app.dsn)
    c.autocommit = True
    return c


def db_row(app, sql, *args):
    c = db(app)
    try:
        cur = c.cursor()
        cur.execute(sql, args)
        return cur.fetchone()
    finally:
        c.close()


def db_exec(app, sql, *args):
    c = db(app)
    try:
        cur = c.cursor()
        cur.execute(sql, args)
        return cur.rowcount
    finally:
        c.close()


def s256(verifier):
    return base64.urlsafe_b64encode(
        hashlib.sha256(verifier.encode()).digest()).rstrip(b"=").decode()


def no_token_stored(app, clients, conn):
    """Nothing usable under conn: no connection, or one without secrets
    whose payload is refused."""
    row = db_row(app, "SELECT secrets IS NOT NULL FROM connections WHERE id = %s", conn)
    assert row is None or row[0] is False, f"{conn} holds sealed credentials"
    st, _, doc = call(app, "GET", f"/token/{conn}", clients["reader"])
    assert st != 200, doc


def assert_page(hd, raw, status, st):
    assert st == status, (st, raw)
    assert (hget(hd, "Content-Type") or "").startswith("text/html"), hd


# ------------------------------------------------------- consent: success

@pytest.mark.parametrize("token_auth", ["client_secret_basic", "client_secret_post", "none"])
def test_full_consent_token_payload(app, clients, peer, http, token_auth):
    pid = add_provider(app, peer, token_auth,
                       authorization_params={"prompt": "consent"})
    f = Flow(app, clients, http, pid).start()

    # The authorization request (RFC 6749 §4.1.1, RFC 7636, RFC 9700).
    loc, q = parse(f.authz)
    assert f"{loc.scheme}://{loc.netloc}{loc.path}" == peer.authorize_endpoint
    assert q["response_type"] == "code"
    assert q["client_id"] == f"dromos-{pid}"
    assert q["redirect_uri"] == cb_url(pid)
    assert q["scope"] == "read write"
    assert q["code_challenge_method"] == "S256"
    assert q["prompt"] == "consent"
    assert len(base64.urlsafe_b64decode(q["state"] + "=" * (-len(q["state"]) % 4))) >= 32
    # Only hashes and sealed values at rest.
    row = db_row(app, "SELECT verifier, redirect_uri, issuer, used_at, "
                 "expires_at - now() FROM oauth_sessions WHERE state_hash = %s",
                 f.state_hash)
    assert row is not None, "no oauth_sessions row under sha256(state)"
    assert bytes(row[0])[:4] == b"DRM\x01"
    assert row[1] == cb_url(pid) and row[2] == peer.issuer and row[3] is None
    assert 0 < row[4].total_seconds() <= 600

    f.authorize()
    st, hd, raw = f.callback()
    assert st == 302, (st, raw)
    back, bq = parse(hget(hd, "Location"))
    assert back.geturl().startswith(RETURN)
    assert bq["status"] == "connected" and bq["connection"] == f.conn
    assert db_row(app, "SELECT used_at IS NOT NULL FROM oauth_sessions "
                  "WHERE state_hash = %s", f.state_hash) == (True,)

    # The code exchange: the verifier matches the challenge, the client
    # authenticated the way the provider document says.
    st_ = peer.stats()
    ex = [r for r in st_["token_requests"] if r["grant_type"] == "authorization_code"]
    assert len(ex) == 1 and ex[0]["status"] == 200
    assert s256(ex[0]["form"]["code_verifier"]) == q["code_challenge"]
    assert ex[0]["form"]["redirect_uri"] == cb_url(pid)
    assert ex[0]["basic_auth"] is (token_auth == "client_secret_basic")
    if token_auth == "client_secret_post":
        assert ex[0]["form"].get("client_secret") == "***"
    else:
        assert "client_secret" not in ex[0]["form"]

    issued = peer_tokens(peer, "authorization_code")
    assert len(issued) == 1
    p = token(app, clients, f.conn)
    assert p["connection"] == f.conn and p["provider"] == pid
    assert p["credentials"]["access_token"] == issued[0]["access_token"]
    assert p["credentials"]["token_type"] == "Bearer"
    assert "refresh_token" not in json.dumps(p)
    assert issued[0]["refresh_token"] not in json.dumps(p)
    assert abs(rfc3339(p["expires_at"]) - (time.time() + 3600)) < 30
    # The token works where it is meant to.
    r = http.get(peer.resource_url,
                 headers={"Authorization": f"Bearer {p['credentials']['access_token']}"})
    assert r.status_code == 200 and r.json()["client_id"] == f"dromos-{pid}"
    v = view(app, clients, f.conn)
    assert v["status"] == "active" and v["owner"] == OWNER and v["provider"] == pid
    assert v["needs_reauth"] is False
    # No token in the clear in the database.
    dump = db_row(app, "SELECT row_to_json(c)::text FROM connections c WHERE id = %s",
                  f.conn)[0]
    for t in (issued[0]["access_token"], issued[0]["refresh_token"]):
        assert t not in dump


def test_callback_without_return_url_shows_page(app, clients, peer, http):
    pid = add_provider(app, peer)
    f = Flow(app, clients, http, pid, return_url=None)
    st, hd, raw = f.run()
    assert_page(hd, raw, 200, st)
    assert token(app, clients, f.conn)["credentials"]["access_token"] == \
        peer_tokens(peer)[0]["access_token"]
    assert peer_tokens(peer)[0]["access_token"].encode() not in raw


def test_start_refusals(app, clients, peer, http):
    pid = add_provider(app, peer)
    other = add_provider(app, peer)
    conn = new_conn(pid)
    sess = new_session(app, clients, pid, conn)
    # A bad session.
    st, _, raw = auth_start(app, "drs_" + "A" * 43, pid)
    assert st == 401, raw
    st, _, raw = auth_start(app, "nonsense", pid)
    assert st == 401, raw
    # A provider the session does not allow.
    st, _, raw = auth_start(app, sess, other)
    assert st == 403, raw
    # An unknown provider (in a session allowing any provider).
    st, _, doc = call(app, "POST", "/connect/sessions", clients["session"],
                      {"owner": OWNER})
    assert st == 201, doc
    st, _, raw = auth_start(app, doc["session"], "nosuchprovider")
    assert st == 404, raw
    # A provider without its client credentials is not ready.
    notready = f"p{next(_seq)}"
    d = provider_doc(peer, notready, "x", "y")
    del d["client_id"], d["client_secret"]
    ctl(app, "provider", "add", "-", stdin=json.dumps(d))
    st, _, raw = auth_start(app, doc["session"], notready)
    assert st == 409, raw
    # None of that reached the provider or stored a state.
    assert peer.stats()["authorize_calls"] == 0
    assert db_row(app, "SELECT count(*) FROM oauth_sessions WHERE provider IN (%s, %s, %s)",
                  pid, other, notready) == (0,)


def test_connect_sessions(app, clients, peer, http):
    pid = add_provider(app, peer, return_urls=["https://app.example/back/"])
    # Short-lived: 30 minutes by default.
    st, _, doc = call(app, "POST", "/connect/sessions", clients["session"],
                      {"owner": OWNER, "providers": [pid]})
    assert st == 201, doc
    assert abs(rfc3339(doc["expires_at"]) - time.time() - 1800) < 30
    assert doc["url"] == f"{PUBLIC}/v1/connect?session={doc['session']}"
    # A return URL on no allow-list is refused.
    for bad in ("https://evil.example/done", "https://app.example/backdoor",
                "https://127.0.0.1:8443.evil.example/x"):
        st, _, doc = call(app, "POST", "/connect/sessions", clients["session"],
                          {"owner": OWNER, "providers": [pid], "return_url": bad})
        assert st == 422, (bad, doc)
        assert [e["path"] for e in doc["errors"]] == ["$.return_url"], doc
    # Without connect:session, or outside its pattern: forbidden.
    st, _, doc = call(app, "POST", "/connect/sessions", clients["reader"], {"owner": OWNER})
    assert st == 403, doc
    narrow = new_client(app, f"cs{next(_seq)}", "connect:session:globex-*")
    st, _, doc = call(app, "POST", "/connect/sessions", narrow,
                      {"owner": OWNER, "connection": "acme-x"})
    assert st == 403, doc
    # The provider's own return URL; the connection id picked by the broker.
    st, _, doc = call(app, "POST", "/connect/sessions", clients["session"],
                      {"owner": OWNER, "providers": [pid],
                       "return_url": "https://app.example/back/here?x=1"})
    assert st == 201, doc
    st, hd, raw = auth_start(app, doc["session"], pid)
    assert st == 302, raw
    r = http.get(hget(hd, "Location"), allow_redirects=False)
    assert r.status_code == 302
    st, hd, raw = app.request("GET", to_broker(r.headers["Location"]))
    assert st == 302, raw
    back, q = parse(hget(hd, "Location"))
    assert back.geturl().startswith("https://app.example/back/here?")
    assert q["x"] == "1" and q["status"] == "connected"
    conn = q["connection"]
    assert conn and token(app, clients, conn)["credentials"]["access_token"] == \
        peer_tokens(peer)[0]["access_token"]
    assert view(app, clients, conn)["owner"] == OWNER


# ------------------------------------------------------- consent: refused

def test_replayed_state(app, clients, peer, http):
    pid = add_provider(app, peer)
    f = Flow(app, clients, http, pid).start().authorize()
    st, _, raw = f.callback()
    assert st == 302, raw
    first = token(app, clients, f.conn)
    before = view(app, clients, f.conn)
    st, hd, raw = f.callback()          # the very same URL again
    assert_page(hd, raw, 400, st)
    assert peer.stats()["token_calls"].get("authorization_code") == 1
    assert token(app, clients, f.conn)["credentials"] == first["credentials"]
    after = view(app, clients, f.conn)
    assert after["updated_at"] == before["updated_at"] and after["status"] == "active"


def test_wrong_state(app, clients, peer, http):
    pid = add_provider(app, peer)
    f = Flow(app, clients, http, pid).start().authorize()
    loc, q = parse(f.cb)
    for bad in (secrets.token_urlsafe(32), f.state[:-1],
                f.state + "A"):
        q2 = dict(q, state=bad)
        st, hd, raw = f.callback(loc._replace(query=urllib.parse.urlencode(q2)).geturl())
        assert_page(hd, raw, 400, st)
    # No state at all.
    q2 = {k: v for k, v in q.items() if k != "state"}
    st, hd, raw = f.callback(loc._replace(query=urllib.parse.urlencode(q2)).geturl())
    assert st == 400, raw
    assert peer.stats()["token_calls"].get("authorization_code", 0) == 0
    no_token_stored(app, clients, f.conn)
    # The wrong states spent nothing: the genuine callback still works.
    st, _, raw = f.callback()
    assert st == 302, raw
    assert token(app, clients, f.conn)["credentials"]["access_token"] == \
        peer_tokens(peer)[0]["access_token"]


def test_state_for_another_provider(app, clients, peer, http):
    pid = add_provider(app, peer)
    other = add_provider(app, peer)
    f = Flow(app, clients, http, pid).start().authorize()
    # The mix-up defence: the right state at another provider's callback.
    st, hd, raw = f.callback(f.cb.replace(f"/callback/{pid}?", f"/callback/{other}?"))
    assert_page(hd, raw, 400, st)
    assert peer.stats()["token_calls"].get("authorization_code", 0) == 0
    no_token_stored(app, clients, f.conn)


def test_expired_state(app, clients, peer, http):
    pid = add_provider(app, peer)
    f = Flow(app, clients, http, pid).start().authorize()
    assert db_exec(app, "UPDATE oauth_sessions SET expires_at = now() - interval '1 second' "
                   "WHERE state_hash = %s", f.state_hash) == 1
    st, hd, raw = f.callback()
    assert_page(hd, raw, 400, st)
    assert peer.stats()["token_calls"].get("authorization_code", 0) == 0
    no_token_stored(app, clients, f.conn)


def test_pkce_verifier_from_another_row(app, clients, peer, http):
    """A sealed verifier moved to another state's row does not open there
    (its associated data names the row): the callback fails, nothing is
    stored."""
    pid = add_provider(app, peer)
    a = Flow(app, clients, http, pid).start().authorize()
    b = Flow(app, clients, http, pid).start().authorize()
    assert db_exec(app, "UPDATE oauth_sessions SET verifier = (SELECT verifier FROM "
                   "oauth_sessions WHERE state_hash = %s) WHERE state_hash = %s",
                   b.state_hash, a.state_hash) == 1
    st, hd, raw = a.callback()
    assert st in (400, 500, 502), (st, raw)
    assert (hget(hd, "Content-Type") or "").startswith(("text/html", "application/problem+json"))
    # It did not open, so no verifier (b's or any) was sent.
    assert peer.stats()["token_calls"].get("authorization_code", 0) == 0
    no_token_stored(app, clients, a.conn)
    # b is untouched and still completes.
    st, _, raw = b.callback()
    assert st == 302, raw
    assert token(app, clients, b.conn)["credentials"]["access_token"]


def test_pkce_verifier_flipped_byte(app, clients, peer, http):
    pid = add_provider(app, peer)
    f = Flow(app, clients, http, pid).start().authorize()
    blob = bytearray(db_row(app, "SELECT verifier FROM oauth_sessions WHERE state_hash = %s",
                            f.state_hash)[0])
    blob[-1] ^= 0x01
    db_exec(app, "UPDATE oauth_sessions SET verifier = %s WHERE state_hash = %s",
            bytes(blob), f.state_hash)
    st, hd, raw = f.callback()
    assert st in (400, 500, 502), (st, raw)
    assert peer.stats()["token_calls"].get("authorization_code", 0) == 0
    no_token_stored(app, clients, f.conn)


def test_pkce_wrong_verifier_resealed(app, clients, peer, http):
    """A well-sealed but different verifier (as if the row were forged with
    the keys): the broker sends it, the provider refuses the code (PKCE
    works end to end), the callback is a 502 page and nothing is stored."""
    pid = add_provider(app, peer)
    f = Flow(app, clients, http, pid).start().authorize()
    blob = bytes(db_row(app, "SELECT verifier FROM oauth_sessions WHERE state_hash = %s",
                        f.state_hash)[0])
    row = f.state_hash.hex()
    plain = key = None
    for k in app.data_keys():
        try:
            version, plain = open_sealed(k, blob, "pkce", "oauth_sessions", row, "verifier")
            key = k
            break
        except Exception:
            continue
    assert key is not None, "the sealed verifier opens with no data key"
    # Same shape (a JSON string or the bare verifier), another value.
    real = plain.decode()
    fake_v = secrets.token_urlsafe(32)[:43]
    fake = json.dumps(fake_v) if real.startswith('"') else fake_v
    from cryptography.hazmat.primitives.ciphers.aead import AESGCM
    nonce = os.urandom(12)
    ct = AESGCM(key).encrypt(nonce, fake.encode(), sealed_ad(
        "pkce", "oauth_sessions", row, "verifier", version))
    forged = b"DRM\x01" + struct.pack(">I", version) + nonce + ct
    db_exec(app, "UPDATE oauth_sessions SET verifier = %s WHERE state_hash = %s",
            forged, f.state_hash)
    st, hd, raw = f.callback()
    assert_page(hd, raw, 502, st)
    s = peer.stats()
    ex = [r for r in s["token_requests"] if r["grant_type"] == "authorization_code"]
    assert len(ex) == 1 and ex[0]["form"]["code_verifier"] == fake_v
    assert ex[0]["status"] == 400
    assert s["token_errors"].get("invalid_grant") == 1
    no_token_stored(app, clients, f.conn)


def test_wrong_iss(app, clients, peer, http):
    pid = add_provider(app, peer)
    peer.control(wrong_iss=True)
    f = Flow(app, clients, http, pid).start().authorize()
    assert parse(f.cb)[1]["iss"] == "https://evil.example"
    st, hd, raw = f.callback()
    assert_page(hd, raw, 400, st)
    assert peer.stats()["token_calls"].get("authorization_code", 0) == 0
    no_token_stored(app, clients, f.conn)
    # An issuer that differs by a trailing slash only is still wrong.
    peer.control(wrong_iss=peer.issuer + "/")
    f = Flow(app, clients, http, pid).start().authorize()
    st, hd, raw = f.callback()
    assert st == 400, raw
    no_token_stored(app, clients, f.conn)


def test_missing_iss_when_metadata_promises_it(app, clients, peer, http):
    """A provider found by discovery whose metadata says it sends iss
    (RFC 9207 §3): a response without iss is refused; with it, accepted."""
    pid = add_provider(app, peer, discovery=True)
    peer.control(omit_iss=True)
    f = Flow(app, clients, http, pid).start().authorize()
    assert "iss" not in parse(f.cb)[1]
    st, hd, raw = f.callback()
    assert st == 400, raw
    assert peer.stats()["token_calls"].get("authorization_code", 0) == 0
    no_token_stored(app, clients, f.conn)
    peer.control(omit_iss=False)
    connected(app, clients, http, pid)


# ------------------------------------------------------- consent: error

def test_authorization_error_recorded(app, clients, peer, http):
    pid = add_provider(app, peer)
    peer.control(authorize_error="access_denied")
    # With a return URL: back there with the error.
    f = Flow(app, clients, http, pid)
    st, hd, raw = f.run()
    assert st == 302, raw
    back, q = parse(hget(hd, "Location"))
    assert back.geturl().startswith(RETURN)
    assert q["status"] == "error" and q["error"] == "access_denied"
    assert q["connection"] == f.conn
    v = view(app, clients, f.conn)
    assert v["status"] == "error", v
    assert "access_denied" in (v["refresh"]["last_error"] or ""), v
    st, hd, doc = call(app, "GET", f"/token/{f.conn}", clients["reader"])
    assert st != 200 and is_problem(hd, doc), (st, doc)
    # Without one: a page that says what happened, with the provider's
    # words escaped.
    peer.control(authorize_error="<b>evil</b>")
    g = Flow(app, clients, http, pid, return_url=None)
    st, hd, raw = g.run()
    assert (hget(hd, "Content-Type") or "").startswith("text/html"), (st, hd)
    assert st in (200, 400), st
    assert b"<b>evil</b>" not in raw
    assert b"&lt;b&gt;evil&lt;/b&gt;" in raw or b"evil" not in raw
    peer.control(authorize_error="access_denied")
    h = Flow(app, clients, http, pid, return_url=None)
    st, hd, raw = h.run()
    assert b"access_denied" in raw or b"denied" in raw.lower(), raw
    assert peer.stats()["token_calls"] == {}
    # The error page for a connection that had tokens keeps them.
    peer.control(authorize_error=None)
    conn = connected(app, clients, http, pid)
    good = token(app, clients, conn)
    peer.control(authorize_error="access_denied")
    Flow(app, clients, http, pid, conn=conn).run()
    assert token(app, clients, conn)["credentials"] == good["credentials"]


# ------------------------------------------------------- refresh

def test_refresh_on_expiry(app, clients, peer, http):
    pid = add_provider(app, peer, token_expiration_buffer=1)
    peer.control(expires_in=4)
    conn = connected(app, clients, http, pid)
    first = token(app, clients, conn)
    old = peer_tokens(peer)[0]
    assert first["credentials"]["access_token"] == old["access_token"]
    assert peer.stats()["refresh_calls"] == 0
    exp = rfc3339(first["expires_at"])
    assert 2 <= exp - time.time() <= 5
    peer.control(expires_in=3600)
    # Inside the buffer (but before the token actually expires).
    time.sleep(max(0, exp - 1 - time.time()) + 0.3)
    p = token(app, clients, conn)
    s = peer.stats()
    assert s["refresh_calls"] == 1 and s["refresh_ok"] == 1
    new = peer_tokens(peer, "refresh_token")
    assert len(new) == 1
    assert p["credentials"]["access_token"] == new[0]["access_token"] != old["access_token"]
    assert rfc3339(p["expires_at"]) > time.time() + 3000
    ref = [r for r in s["token_requests"] if r["grant_type"] == "refresh_token"]
    assert ref[0]["form"]["refresh_token"] == old["refresh_token"]
    r = http.get(peer.resource_url,
                 headers={"Authorization": f"Bearer {p['credentials']['access_token']}"})
    assert r.status_code == 200
    # A fresh token is not refreshed again.
    assert token(app, clients, conn)["credentials"] == p["credentials"]
    assert peer.stats()["refresh_calls"] == 1
    v = view(app, clients, conn)
    assert v["refresh"]["last_refresh_at"] and v["refresh"]["attempts"] == 0


def expiring_connection(app, clients, peer, http):
    """A connection whose access token is valid for a minute, inside the
    default 5-minute buffer: the next read must refresh it.  The peer then
    issues hour-long tokens.  (connection, the old access token)."""
    pid = add_provider(app, peer)
    peer.control(expires_in=60)
    f = Flow(app, clients, http, pid)
    st, _, raw = f.run()
    assert st == 302, raw
    peer.control(expires_in=3600)
    return f.conn, peer_tokens(peer)[0]["access_token"]


def concurrent_reads(targets, conn, tok, n=50):
    """n GET /token/{conn} at once, spread over the appliances in
    targets; the list of (status, access token)."""
    barrier = threading.Barrier(n)

    def one(i):
        a = targets[i % len(targets)]
        barrier.wait(10)
        st, _, raw = a.request("GET", f"/token/{conn}", None,
                               {"Authorization": f"Bearer {tok}"})
        doc = json.loads(raw) if st == 200 else {}
        return st, doc.get("credentials", {}).get("access_token"), raw

    with concurrent.futures.ThreadPoolExecutor(n) as ex:
        return list(ex.map(one, range(n)))


def check_single_flight(peer, results, old):
    s = peer.stats()
    assert s["refresh_calls"] == 1, s["token_requests"]
    assert s["refresh_ok"] == 1 and s["refresh_reuse"] == 0
    assert s["max_refresh_in_flight"] == 1
    new = peer_tokens(peer, "refresh_token")
    assert len(new) == 1 and new[0]["access_token"] != old
    bad = [(st, raw[:200]) for st, _, raw in results if st != 200]
    assert not bad, bad
    got = {t for _, t, _ in results}
    assert got == {new[0]["access_token"]}, got


def test_concurrent_reads_one_refresh(app, clients, peer, http):
    conn, old = expiring_connection(app, clients, peer, http)
    peer.control(delay_ms=300)
    t0 = time.monotonic()
    results = concurrent_reads([app], conn, clients["reader"])
    check_single_flight(peer, results, old)
    assert time.monotonic() - t0 < 20


@pytest.fixture(scope="module")
def second(app):
    """Another broker process (its own dromosd, sockets and keyholder) on
    the same database, with the same root key."""
    b = Appliance(app.dsn, rootkey=app.key)
    try:
        b.start()
        yield b
    finally:
        b.stop()
        EXTRA_LOGS.append(b.logtext())
        try:
            with open(b.audit, errors="replace") as fh:
                EXTRA_LOGS.append(fh.read())
        except FileNotFoundError:
            pass
        shutil.rmtree(b.dir, ignore_errors=True)


def test_concurrent_reads_two_brokers(app, second, clients, peer, http):
    conn, old = expiring_connection(app, clients, peer, http)
    peer.control(delay_ms=300)
    assert second.broker_pid() and app.broker_pid() != second.broker_pid()
    results = concurrent_reads([app, second], conn, clients["reader"])
    check_single_flight(peer, results, old)


def test_omitted_refresh_token_kept(app, clients, peer, http):
    pid = add_provider(app, peer)
    peer.control(expires_in=60)
    conn = connected(app, clients, http, pid)
    rt1 = peer_tokens(peer)[0]["refresh_token"]
    # The answer has no refresh_token, and its token expires soon again.
    peer.control(omit_refresh_token=True)
    p2 = token(app, clients, conn)
    t2 = peer_tokens(peer, "refresh_token")
    assert len(t2) == 1 and t2[0]["refresh_token"] is None
    assert p2["credentials"]["access_token"] == t2[0]["access_token"]
    # The next refresh spends the old refresh token, which still works.
    peer.control(omit_refresh_token=False, expires_in=3600)
    p3 = token(app, clients, conn)
    s = peer.stats()
    ref = [r for r in s["token_requests"] if r["grant_type"] == "refresh_token"]
    assert len(ref) == 2, ref
    assert ref[0]["form"]["refresh_token"] == rt1
    assert ref[1]["form"]["refresh_token"] == rt1 and ref[1]["status"] == 200
    t3 = peer_tokens(peer, "refresh_token")[-1]
    assert p3["credentials"]["access_token"] == t3["access_token"]
    assert t3["refresh_token"] and t3["refresh_token"] != rt1
    # And the rotated one replaced it: a forced refresh spends t3's.
    st, _, doc = call(app, "POST", f"/token/{conn}/refresh", clients["refresher"])
    assert st == 200, doc
    ref = [r for r in peer.stats()["token_requests"] if r["grant_type"] == "refresh_token"]
    assert ref[-1]["form"]["refresh_token"] == t3["refresh_token"] and ref[-1]["status"] == 200


def test_invalid_grant_needs_reauth(app, clients, peer, http):
    pid = add_provider(app, peer, token_expiration_buffer=0)
    peer.control(expires_in=3)
    conn = connected(app, clients, http, pid)
    old = token(app, clients, conn)
    exp = rfc3339(old["expires_at"])
    peer.revoke_all()               # the user withdrew consent
    st, hd, doc = call(app, "POST", f"/token/{conn}/refresh", clients["refresher"])
    assert st == 409 and is_problem(hd, doc), (st, doc)
    assert doc["type"] == "urn:dromos:problem:needs-reauth"
    s = peer.stats()
    assert s["refresh_calls"] == 1, "invalid_grant must not be retried"
    assert s["token_errors"].get("invalid_grant") == 1
    v = view(app, clients, conn)
    assert v["needs_reauth"] is True, v
    assert v["status"] == "needs_reauth", v
    assert v["refresh"]["attempts"] >= 1 and "invalid_grant" in (v["refresh"]["last_error"] or "")
    # Once the access token has expired, a read is a problem, not a stale
    # token.
    time.sleep(max(0, exp - time.time()) + 1.1)
    st, hd, doc = call(app, "GET", f"/token/{conn}", clients["reader"])
    assert st == 409 and is_problem(hd, doc), (st, doc)
    assert doc["type"] == "urn:dromos:problem:needs-reauth"
    assert old["credentials"]["access_token"] not in json.dumps(doc)
    # A needs_reauth connection does not spend dead refresh tokens again.
    assert peer.stats()["refresh_calls"] == 1
    # A new consent repairs it.
    peer.control(expires_in=3600)
    connected(app, clients, http, pid, conn=conn)
    v = view(app, clients, conn)
    assert v["needs_reauth"] is False and v["status"] == "active"
    assert token(app, clients, conn)["credentials"]["access_token"] == \
        peer_tokens(peer)[-1]["access_token"]


def test_5xx_burst_retried(app, clients, peer, http):
    conn, old = expiring_connection(app, clients, peer, http)
    peer.control(fail_5xx_count=2)
    seen = []
    deadline = time.monotonic() + 20
    while time.monotonic() < deadline:
        p = token(app, clients, conn)
        seen.append(p["credentials"]["access_token"])
        if seen[-1] != old:
            break
        time.sleep(0.2)
    new = peer_tokens(peer, "refresh_token")
    assert len(new) == 1, "the refresh never succeeded after the burst"
    # Old (still valid) until the retry worked, then the new one.
    assert seen[-1] == new[0]["access_token"]
    assert set(seen[:-1]) <= {old}
    s = peer.stats()
    assert s["injected"]["5xx"] == 2
    assert s["refresh_calls"] == 3 and s["refresh_ok"] == 1
    # The refresh token was not spent by the failures.
    ref = [r for r in s["token_requests"] if r["grant_type"] == "refresh_token"]
    assert [r["status"] for r in ref] == [500, 500, 200]
    assert len({r["form"]["refresh_token"] for r in ref}) == 1
    v = view(app, clients, conn)
    assert v["status"] == "active" and v["needs_reauth"] is False
    assert v["refresh"]["attempts"] == 0 and v["refresh"]["last_error"] is None


def test_5xx_persisting_old_token_served(app, clients, peer, http):
    conn, old = expiring_connection(app, clients, peer, http)
    peer.control(fail_5xx_count=1000, fail_5xx_status=503)
    p = token(app, clients, conn)
    assert p["credentials"]["access_token"] == old
    s = peer.stats()
    assert s["refresh_calls"] >= 1 and s["refresh_ok"] == 0
    v = view(app, clients, conn)
    assert v["status"] == "active" and v["needs_reauth"] is False, v
    assert v["refresh"]["attempts"] >= 1, v
    assert v["refresh"]["last_error"] and "503" in v["refresh"]["last_error"], v
    assert v["refresh"]["last_refresh_at"]
    assert old not in json.dumps(v)
    # Still served while valid.
    assert token(app, clients, conn)["credentials"]["access_token"] == old


def test_5xx_concurrent_reads_back_off(app, clients, peer, http):
    """The provider is down while many callers read an expiring (still
    valid) token: single flight and backoff mean one retried refresh, not
    one per waiter; every caller gets the still-valid token promptly."""
    conn, old = expiring_connection(app, clients, peer, http)
    peer.control(fail_5xx_count=100000, fail_5xx_status=503)
    t0 = time.monotonic()
    results = concurrent_reads([app], conn, clients["reader"], n=10)
    took = time.monotonic() - t0
    assert [st for st, _, _ in results] == [200] * 10
    assert {tok for _, tok, _ in results} == {old}
    calls = peer.stats()["refresh_calls"]
    # REFRESH_TRIES (unpriv/refresh.h) is 3: allow two rounds of them.
    assert calls <= 6, f"{calls} refresh calls for 10 waiting reads ({took:.1f} s)"
    assert took < 5, f"10 reads took {took:.1f} s"


def test_429_retried(app, clients, peer, http):
    conn, old = expiring_connection(app, clients, peer, http)
    peer.control(fail_429_count=1, retry_after=1)
    deadline = time.monotonic() + 15
    while time.monotonic() < deadline:
        tok = token(app, clients, conn)["credentials"]["access_token"]
        if tok != old:
            break
        time.sleep(0.2)
    new = peer_tokens(peer, "refresh_token")
    assert len(new) == 1 and tok == new[0]["access_token"]
    assert peer.stats()["injected"]["429"] == 1


# ------------------------------------------------------- forced refresh

def test_forced_refresh_scope_and_rate_limit(app, clients, peer, http):
    pid = add_provider(app, peer)
    conn = connected(app, clients, http, pid)
    old = token(app, clients, conn)["credentials"]["access_token"]
    st, hd, doc = call(app, "POST", f"/token/{conn}/refresh", clients["reader"])
    assert st == 403 and doc["type"] == "urn:dromos:problem:forbidden", doc
    st, hd, doc = call(app, "POST", f"/token/{conn}/refresh")
    assert st == 401, doc
    assert peer.stats()["refresh_calls"] == 0
    st, hd, doc = call(app, "POST", f"/token/{conn}/refresh", clients["refresher"])
    assert st == 200, doc
    new = peer_tokens(peer, "refresh_token")
    assert len(new) == 1 and new[0]["access_token"] != old
    if isinstance(doc, dict) and "credentials" in doc:
        assert doc["credentials"]["access_token"] == new[0]["access_token"]
    assert token(app, clients, conn)["credentials"]["access_token"] == new[0]["access_token"]
    # Again at once: rate limited, the provider is not called.
    st, hd, doc = call(app, "POST", f"/token/{conn}/refresh", clients["refresher"])
    assert st == 429 and is_problem(hd, doc), (st, doc)
    ra = hget(hd, "Retry-After")
    assert ra is not None and ra.isdigit() and 1 <= int(ra) <= 10, hd
    assert peer.stats()["refresh_calls"] == 1
    # The limit is per connection: another one is refreshed at once.
    conn2 = connected(app, clients, http, pid)
    st, _, doc = call(app, "POST", f"/token/{conn2}/refresh", clients["refresher"])
    assert st == 200, doc
    assert peer.stats()["refresh_calls"] == 2
    # Unknown connection.
    st, _, doc = call(app, "POST", f"/token/{OWNER}-nosuch/refresh", clients["refresher"])
    assert st == 404, doc


def test_forced_refresh_rate_limit_across_brokers(app, second, clients, peer, http):
    """"At most once per 10 s per connection" (API.md): the connection, not
    the broker process that happens to receive the call."""
    pid = add_provider(app, peer)
    conn = connected(app, clients, http, pid)
    st, _, doc = call(app, "POST", f"/token/{conn}/refresh", clients["refresher"])
    assert st == 200, doc
    st, hd, doc = call(second, "POST", f"/token/{conn}/refresh", clients["refresher"])
    assert st == 429, (st, doc)
    assert hget(hd, "Retry-After")
    assert peer.stats()["refresh_calls"] == 1


def test_no_expires_in_long_lived(app, clients, peer, http):
    """No expires_in: long-lived, never refreshed by a read, refreshed on
    an explicit request."""
    pid = add_provider(app, peer)
    peer.control(omit_expires_in=True)
    conn = connected(app, clients, http, pid)
    p = token(app, clients, conn)
    assert p.get("expires_at") is None, p
    assert p["credentials"]["access_token"] == peer_tokens(peer)[0]["access_token"]
    assert token(app, clients, conn)["credentials"] == p["credentials"]
    assert peer.stats()["refresh_calls"] == 0
    st, _, doc = call(app, "POST", f"/token/{conn}/refresh", clients["refresher"])
    assert st == 200, doc
    assert peer.stats()["refresh_calls"] == 1
    assert token(app, clients, conn)["credentials"]["access_token"] == \
        peer_tokens(peer, "refresh_token")[0]["access_token"]


def test_invalid_grant_after_reconsent_not_needs_reauth(app, clients, peer, http):
    """invalid_grant marks needs_reauth only if a re-read shows nobody
    replaced the grant meanwhile: here a new consent lands while the
    refresh is in flight at the provider."""
    pid = add_provider(app, peer)
    conn = connected(app, clients, http, pid)
    f = Flow(app, clients, http, pid, conn=conn).start().authorize()
    peer.control(delay_ms=1500, invalid_grant=1)
    out = {}

    def forced():
        out["r"] = call(app, "POST", f"/token/{conn}/refresh", clients["refresher"])

    t = threading.Thread(target=forced)
    t.start()
    try:
        wait_for(lambda: peer.stats()["refresh_in_flight"] == 1, 5, "refresh in flight")
        peer.control(delay_ms=0)
        st, _, raw = f.callback()
        assert st == 302, raw
    finally:
        t.join(10)
    st, hd, doc = out["r"]
    # The re-read saw the new grant: "try again", not needs-reauth.
    assert st == 503 and is_problem(hd, doc), (st, doc)
    assert doc["type"] == "urn:dromos:problem:unavailable"
    assert peer.stats()["injected"]["invalid_grant"] == 1
    v = view(app, clients, conn)
    assert v["needs_reauth"] is False and v["status"] == "active", v
    assert token(app, clients, conn)["credentials"]["access_token"] == \
        peer_tokens(peer, "authorization_code")[-1]["access_token"]


def test_forced_refresh_of_pattern_scope(app, clients, peer, http):
    pid = add_provider(app, peer)
    conn = connected(app, clients, http, pid)
    narrow = new_client(app, f"narrow{next(_seq)}", "token:refresh:globex-*",
                        "token:read")
    st, _, doc = call(app, "POST", f"/token/{conn}/refresh", narrow)
    assert st == 403, doc
    assert peer.stats()["refresh_calls"] == 0


# ------------------------------------------------------- disconnect

def access_log(app, conn):
    c = db(app)
    try:
        cur = c.cursor()
        cur.execute("SELECT operation, outcome FROM access_log WHERE connection = %s "
                    "ORDER BY id", (conn,))
        return cur.fetchall()
    finally:
        c.close()


def test_disconnect_revokes(app, clients, peer, http):
    pid = add_provider(app, peer)
    conn = connected(app, clients, http, pid)
    rt = peer_tokens(peer)[0]["refresh_token"]
    st, _, doc = call(app, "DELETE", f"/connections/{conn}", clients["reader"])
    assert st == 403, doc
    assert peer.stats()["revocation_calls"] == 0
    st, _, doc = call(app, "DELETE", f"/connections/{conn}", clients["writer"])
    assert st == 204, doc
    s = peer.stats()
    assert s["revocation_calls"] == 1
    rev = s["revocations"][0]
    assert rev["token"] == rt and rev["kind"] == "refresh_token" and rev["status"] == 200
    assert rev["client_id"] == f"dromos-{pid}"
    assert rt in s["revoked_tokens"]
    assert peer_tokens(peer)[0]["refresh_revoked"] is True
    assert call(app, "GET", f"/connections/{conn}", clients["reader"])[0] == 404
    assert call(app, "GET", f"/token/{conn}", clients["reader"])[0] == 404
    ok_log = access_log(app, conn)
    assert any("delete" in op or "revoke" in op for op, _ in ok_log), ok_log

    # The provider fails the revocation: the local delete still happens,
    # and the outcome says so.
    conn2 = connected(app, clients, http, pid)
    peer.control(fail_revoke_count=100)
    st, _, doc = call(app, "DELETE", f"/connections/{conn2}", clients["writer"])
    assert st == 204, doc
    s = peer.stats()
    assert s["revocation_calls"] >= 2 and s["injected"]["revoke_5xx"] >= 1
    assert call(app, "GET", f"/connections/{conn2}", clients["reader"])[0] == 404
    bad_log = access_log(app, conn2)
    ok_outcomes = {o for op, o in ok_log if "revoke" in op or "revoke" in o}
    bad_outcomes = {o for op, o in bad_log if "revoke" in op or "revoke" in o}
    assert bad_outcomes, bad_log
    assert bad_outcomes != ok_outcomes, (ok_log, bad_log)
    assert any(("503" in o or "fail" in o or "error" in o) for o in bad_outcomes), bad_log


def test_disconnect_without_revocation_endpoint(app, clients, peer, http):
    # Without issuer too: with one, the metadata's revocation_endpoint
    # fills the gap (discovery.h: the document's fields win, discovery
    # supplies the rest).
    pid = add_provider(app, peer, revocation=False, drop=("issuer",))
    conn = connected(app, clients, http, pid)
    st, _, doc = call(app, "DELETE", f"/connections/{conn}", clients["writer"])
    assert st == 204, doc
    assert peer.stats()["revocation_calls"] == 0
    assert call(app, "GET", f"/connections/{conn}", clients["reader"])[0] == 404


# ------------------------------------------------------- no secret leaked

def test_zz_no_planted_secret_in_logs(app):
    """Runs last in this module: every log the appliances wrote."""
    assert PLANTED, "no secret was collected: the tests above did not run"
    app.stop()
    texts = [app.logtext()] + EXTRA_LOGS
    with open(app.audit, errors="replace") as f:
        texts.append(f.read())
    try:
        for t in texts:
            for s in PLANTED:
                assert s not in t, f"a secret ({s[:6]}...) is in a log"
    finally:
        app.start()
