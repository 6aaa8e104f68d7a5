"""The OAuth 2.0 authorization server peer itself (peers/authserver.py),
driven by hand with requests: authorization code + PKCE S256, rotating
refresh tokens, revocation, metadata, and every misbehaviour switch."""
import concurrent.futures
import os
import signal
import time
import urllib.parse

import pytest
import requests

from oauthpeer import (OAuthPeer, PeerError, make_pkce, oauth_peer,  # noqa: F401
                       provider_doc, running_peer)

CB = "http://127.0.0.1:9/v1/auth/callback/peer"
CID, SECRET = "dromos-app", "s3cret-client-secret"


@pytest.fixture
def http():
    s = requests.Session()
    s.trust_env = False     # never a proxy: the peer is on loopback
    yield s
    s.close()


@pytest.fixture
def peer(oauth_peer):
    oauth_peer.register_client(CID, SECRET, "client_secret_basic", [CB])
    return oauth_peer


def query(location):
    parts = urllib.parse.urlsplit(location)
    return parts._replace(query="").geturl(), dict(
        urllib.parse.parse_qsl(parts.query, keep_blank_values=True))


def authorize(http, peer, client_id=CID, redirect_uri=CB, state="st-123",
              scope="read write", challenge=None, method="S256", **extra):
    """GET /authorize without following; (status, target, params)."""
    if challenge is None:
        challenge = make_pkce()[1]
    r = http.get(peer.authorize_url(client_id, redirect_uri, challenge,
                                    state=state, scope=scope, method=method,
                                    **extra), allow_redirects=False)
    if r.status_code != 302:
        return r.status_code, None, r
    target, q = query(r.headers["Location"])
    return r.status_code, target, q


def client_auth(method, client_id=CID, secret=SECRET):
    """(requests auth, extra form fields) for a client auth method."""
    if method == "client_secret_basic":
        return (client_id, secret), {}
    if method == "client_secret_post":
        return None, {"client_id": client_id, "client_secret": secret}
    return None, {"client_id": client_id}


def token_call(http, peer, form, method="client_secret_basic",
               client_id=CID, secret=SECRET):
    auth, extra = client_auth(method, client_id, secret)
    return http.post(peer.token_endpoint, data=dict(form, **extra), auth=auth)


def exchange(http, peer, code, verifier, redirect_uri=CB, **kw):
    return token_call(http, peer, {
        "grant_type": "authorization_code", "code": code,
        "redirect_uri": redirect_uri, "code_verifier": verifier}, **kw)


def refresh(http, peer, rt, **kw):
    return token_call(http, peer, {"grant_type": "refresh_token",
                                   "refresh_token": rt}, **kw)


def revoke(http, peer, token, hint=None, method="client_secret_basic",
           client_id=CID, secret=SECRET):
    auth, extra = client_auth(method, client_id, secret)
    form = {"token": token}
    if hint:
        form["token_type_hint"] = hint
    return http.post(peer.revocation_endpoint, data=dict(form, **extra),
                     auth=auth)


def consent(http, peer, **kw):
    """A whole consent: authorize + exchange; the token response."""
    verifier, challenge = make_pkce()
    st, target, q = authorize(http, peer, challenge=challenge,
                              client_id=kw.get("client_id", CID))
    assert st == 302 and "code" in q, q
    r = exchange(http, peer, q["code"], verifier, **kw)
    assert r.status_code == 200, r.text
    return r.json()


def resource(http, peer, at):
    return http.get(peer.resource_url,
                    headers={"Authorization": f"Bearer {at}"}).status_code


# ---- metadata ----

@pytest.mark.parametrize("path", ["/.well-known/oauth-authorization-server",
                                  "/.well-known/openid-configuration"])
def test_metadata(http, oauth_peer, path):
    r = http.get(oauth_peer.url(path))
    assert r.status_code == 200
    m = r.json()
    base = oauth_peer.base
    assert base.startswith("http://127.0.0.1:") and m["issuer"] == base
    assert m["authorization_endpoint"] == base + "/authorize"
    assert m["token_endpoint"] == base + "/token"
    assert m["revocation_endpoint"] == base + "/revoke"
    assert m["code_challenge_methods_supported"] == ["S256"]
    assert m["authorization_response_iss_parameter_supported"] is True
    assert m["response_types_supported"] == ["code"]
    assert set(m["grant_types_supported"]) == {"authorization_code",
                                               "refresh_token"}
    assert set(m["token_endpoint_auth_methods_supported"]) == {
        "client_secret_basic", "client_secret_post", "none"}


def test_metadata_switches(http, oauth_peer):
    oauth_peer.control(metadata_wrong_issuer=True, advertise_iss=False)
    m = http.get(oauth_peer.metadata_url).json()
    assert m["issuer"] != oauth_peer.base
    assert m["authorization_response_iss_parameter_supported"] is False
    oauth_peer.control(metadata_wrong_issuer="http://127.0.0.1:1")
    assert http.get(oauth_peer.openid_metadata_url).json()["issuer"] == \
        "http://127.0.0.1:1"
    oauth_peer.reset()
    m = http.get(oauth_peer.metadata_url).json()
    assert m["issuer"] == oauth_peer.base
    assert m["authorization_response_iss_parameter_supported"] is True


# ---- the whole flow ----

@pytest.mark.parametrize("method", ["client_secret_basic",
                                    "client_secret_post", "none"])
def test_full_flow(http, oauth_peer, method):
    secret = None if method == "none" else SECRET
    oauth_peer.register_client(CID, secret, method, [CB])
    verifier, challenge = make_pkce()
    st, target, q = authorize(http, oauth_peer, challenge=challenge)
    assert st == 302 and target == CB
    assert q["state"] == "st-123"
    assert q["iss"] == oauth_peer.base          # RFC 9207
    assert len(q["code"]) >= 32

    r = exchange(http, oauth_peer, q["code"], verifier, method=method)
    assert r.status_code == 200, r.text
    assert r.headers["Cache-Control"] == "no-store"
    tok = r.json()
    assert tok["token_type"] == "Bearer"
    assert tok["expires_in"] == 3600
    assert tok["scope"] == "read write"
    at, rt = tok["access_token"], tok["refresh_token"]
    assert at != rt
    assert resource(http, oauth_peer, at) == 200

    # Rotation: a new pair; the old refresh token is spent.
    r = refresh(http, oauth_peer, rt, method=method)
    assert r.status_code == 200, r.text
    tok2 = r.json()
    assert tok2["refresh_token"] not in (rt, None)
    assert tok2["access_token"] != at
    r = refresh(http, oauth_peer, rt, method=method)
    assert r.status_code == 400 and r.json()["error"] == "invalid_grant"
    r = refresh(http, oauth_peer, tok2["refresh_token"], method=method)
    assert r.status_code == 200, r.text

    s = oauth_peer.stats()
    assert s["authorize_calls"] == 1 and s["authorize_ok"] == 1
    assert s["token_calls"] == {"authorization_code": 1, "refresh_token": 3}
    assert s["token_issued"] == {"authorization_code": 1, "refresh_token": 2}
    assert s["refresh_calls"] == 3 and s["refresh_ok"] == 2
    assert s["refresh_reuse"] == 1
    assert [t["basic_auth"] for t in s["token_requests"]] == \
        [method == "client_secret_basic"] * 4
    # The secret itself is never recorded.
    if method == "client_secret_post":
        assert s["token_requests"][0]["form"]["client_secret"] == "***"
    assert SECRET not in str(s)


def test_client_must_use_its_auth_method(http, peer):
    """A client registered for client_secret_basic is refused when it
    authenticates otherwise, or with a wrong secret."""
    tok = consent(http, peer)
    rt = tok["refresh_token"]
    r = refresh(http, peer, rt, method="client_secret_post")
    assert r.status_code in (400, 401) and r.json()["error"] == "invalid_client"
    r = refresh(http, peer, rt, method="none")
    assert r.status_code in (400, 401) and r.json()["error"] == "invalid_client"
    r = refresh(http, peer, rt, secret="wrong")
    assert r.status_code == 401 and r.json()["error"] == "invalid_client"
    # None of that spent the refresh token.
    assert refresh(http, peer, rt).status_code == 200


def test_token_bound_to_client(http, peer):
    peer.register_client("other", "other-secret", "client_secret_basic", [CB])
    tok = consent(http, peer)
    r = refresh(http, peer, tok["refresh_token"], client_id="other",
                secret="other-secret")
    assert r.status_code == 400 and r.json()["error"] == "invalid_grant"


def test_code_is_single_use_and_bound(http, peer):
    verifier, challenge = make_pkce()
    _, _, q = authorize(http, peer, challenge=challenge)
    r = exchange(http, peer, q["code"], verifier, redirect_uri=CB + "x")
    assert r.status_code == 400 and r.json()["error"] == "invalid_grant"
    assert exchange(http, peer, q["code"], verifier).status_code == 200
    r = exchange(http, peer, q["code"], verifier)
    assert r.status_code == 400 and r.json()["error"] == "invalid_grant"


def test_unregistered_redirect_uri_not_followed(http, peer):
    st, target, r = authorize(http, peer, redirect_uri="http://127.0.0.1:9/evil")
    assert st == 400 and target is None
    assert r.json()["error"] == "invalid_request"
    st, target, r = authorize(http, peer, client_id="nobody")
    assert st in (400, 401) and target is None
    assert peer.stats()["codes_issued"] == 0


# ---- PKCE ----

def test_pkce_wrong_verifier_refused(http, peer):
    verifier, challenge = make_pkce()
    _, _, q = authorize(http, peer, challenge=challenge)
    other, _ = make_pkce()
    r = exchange(http, peer, q["code"], other)
    assert r.status_code == 400 and r.json()["error"] == "invalid_grant"
    r = exchange(http, peer, q["code"], verifier[:-1] + ("A" if verifier[-1] != "A" else "B"))
    assert r.status_code == 400 and r.json()["error"] == "invalid_grant"
    r = token_call(http, peer, {"grant_type": "authorization_code",
                                "code": q["code"], "redirect_uri": CB})
    assert r.status_code == 400 and r.json()["error"] == "invalid_request"
    assert peer.stats()["token_issued"] == {}
    # The right one still works: only the verifier was wrong.
    assert exchange(http, peer, q["code"], verifier).status_code == 200


def test_pkce_plain_and_missing_refused(http, peer):
    verifier, _ = make_pkce()
    # plain (the challenge is the verifier itself)
    st, target, q = authorize(http, peer, challenge=verifier, method="plain")
    assert st == 302 and target == CB
    assert q["error"] == "invalid_request" and "code" not in q
    assert q["state"] == "st-123" and q["iss"] == peer.base
    # method absent means plain (RFC 7636 §4.3)
    st, _, q = authorize(http, peer, challenge=verifier, method=None)
    assert q["error"] == "invalid_request" and "code" not in q
    # no challenge at all
    r = http.get(peer.authorize_url(CID, CB, None, state="s", method=None),
                 allow_redirects=False)
    _, q = query(r.headers["Location"])
    assert q["error"] == "invalid_request" and "code" not in q
    assert peer.stats()["codes_issued"] == 0


# ---- revocation ----

def test_revocation(http, peer):
    tok = consent(http, peer)
    at, rt = tok["access_token"], tok["refresh_token"]
    r = revoke(http, peer, rt, hint="refresh_token")
    assert r.status_code == 200
    assert refresh(http, peer, rt).json()["error"] == "invalid_grant"
    # A refresh token takes its access token with it (RFC 7009 §2.1).
    assert resource(http, peer, at) == 401
    s = peer.stats()
    assert s["revocation_calls"] == 1
    assert s["revocations"][0]["token"] == rt
    assert s["revocations"][0]["kind"] == "refresh_token"
    assert s["revocations"][0]["client_id"] == CID
    assert sorted(s["revoked_tokens"]) == sorted([rt, at])
    # An unknown or already revoked token: still 200 (RFC 7009 §2.2).
    assert revoke(http, peer, "no-such-token").status_code == 200
    assert revoke(http, peer, rt).status_code == 200
    assert peer.stats()["revoked_tokens"] == s["revoked_tokens"]


def test_revoke_access_token_only(http, peer):
    tok = consent(http, peer)
    assert revoke(http, peer, tok["access_token"]).status_code == 200
    assert resource(http, peer, tok["access_token"]) == 401
    s = peer.stats()
    assert s["revocations"][0]["kind"] == "access_token"
    assert s["revoked_tokens"] == [tok["access_token"]]
    assert refresh(http, peer, tok["refresh_token"]).status_code == 200


def test_revocation_needs_client_auth(http, peer):
    tok = consent(http, peer)
    r = revoke(http, peer, tok["refresh_token"], secret="wrong")
    assert r.status_code == 401
    r = revoke(http, peer, tok["refresh_token"], method="none")
    assert r.status_code in (400, 401)
    assert peer.stats()["revoked_tokens"] == []
    assert refresh(http, peer, tok["refresh_token"]).status_code == 200


def test_fail_revoke_count(http, peer):
    tok = consent(http, peer)
    peer.control(fail_revoke_count=1)
    assert revoke(http, peer, tok["refresh_token"]).status_code == 503
    assert peer.stats()["revoked_tokens"] == []
    assert revoke(http, peer, tok["refresh_token"]).status_code == 200
    assert tok["refresh_token"] in peer.stats()["revoked_tokens"]


def test_revoke_all(http, peer):
    tok = consent(http, peer)
    peer.revoke_all()
    assert refresh(http, peer, tok["refresh_token"]).json()["error"] == \
        "invalid_grant"
    assert resource(http, peer, tok["access_token"]) == 401


# ---- misbehaviour switches ----

def test_omit_refresh_token_keeps_the_old_one(http, peer):
    tok = consent(http, peer)
    rt = tok["refresh_token"]
    peer.control(omit_refresh_token=True)
    r = refresh(http, peer, rt)
    assert r.status_code == 200 and "refresh_token" not in r.json()
    assert "access_token" in r.json()
    # No new refresh token, so the old one was not rotated away.
    r = refresh(http, peer, rt)
    assert r.status_code == 200 and "refresh_token" not in r.json()
    # The switch covers the code exchange too.
    assert "refresh_token" not in consent(http, peer)
    peer.control(omit_refresh_token=False)
    r = refresh(http, peer, rt)
    assert r.status_code == 200 and r.json()["refresh_token"] != rt
    assert refresh(http, peer, rt).status_code == 400


def test_omit_expires_in(http, peer):
    peer.control(omit_expires_in=True)
    tok = consent(http, peer)
    assert "expires_in" not in tok and "refresh_token" in tok
    r = refresh(http, peer, tok["refresh_token"])
    assert r.status_code == 200 and "expires_in" not in r.json()
    assert resource(http, peer, r.json()["access_token"]) == 200
    peer.control(omit_expires_in=False)
    assert consent(http, peer)["expires_in"] == 3600


def test_short_expires_in(http, peer):
    peer.control(expires_in=1)
    tok = consent(http, peer)
    assert tok["expires_in"] == 1
    assert resource(http, peer, tok["access_token"]) == 200
    time.sleep(1.3)
    assert resource(http, peer, tok["access_token"]) == 401
    # The refresh token outlives it; the new lifetime is the switch's.
    peer.control(expires_in=120)
    r = refresh(http, peer, tok["refresh_token"])
    assert r.status_code == 200 and r.json()["expires_in"] == 120


def test_fail_5xx_count(http, peer):
    tok = consent(http, peer)
    peer.control(fail_5xx_count=2)
    rt = tok["refresh_token"]
    assert refresh(http, peer, rt).status_code == 500
    assert refresh(http, peer, rt).status_code == 500
    r = refresh(http, peer, rt)
    assert r.status_code == 200, r.text
    s = peer.stats()
    assert s["injected"]["5xx"] == 2
    assert s["refresh_calls"] == 3 and s["refresh_ok"] == 1
    assert s["token_errors"] == {"500": 2}
    assert peer.switches()["fail_5xx_count"] == 0


def test_fail_5xx_status_and_any_grant(http, peer):
    peer.control(fail_5xx_count=1, fail_5xx_status=503)
    verifier, challenge = make_pkce()
    _, _, q = authorize(http, peer, challenge=challenge)
    assert exchange(http, peer, q["code"], verifier).status_code == 503
    # An injected failure does not spend the code.
    assert exchange(http, peer, q["code"], verifier).status_code == 200


def test_fail_429_count(http, peer):
    tok = consent(http, peer)
    peer.control(fail_429_count=1, retry_after=7)
    r = refresh(http, peer, tok["refresh_token"])
    assert r.status_code == 429 and r.headers["Retry-After"] == "7"
    assert refresh(http, peer, tok["refresh_token"]).status_code == 200
    assert peer.stats()["injected"]["429"] == 1


def test_invalid_grant(http, peer):
    tok = consent(http, peer)
    peer.control(invalid_grant=True)
    r = refresh(http, peer, tok["refresh_token"])
    assert r.status_code == 400 and r.json()["error"] == "invalid_grant"
    assert peer.stats()["injected"]["invalid_grant"] == 1
    # One-shot: the next refresh with the same token works.
    assert refresh(http, peer, tok["refresh_token"]).status_code == 200
    # It never touches the code exchange.
    peer.control(invalid_grant=3)
    consent(http, peer)
    assert peer.switches()["invalid_grant"] == 3


def test_wrong_iss(http, peer):
    peer.control(wrong_iss=True)
    _, _, q = authorize(http, peer)
    assert "code" in q and q["iss"] != peer.base
    peer.control(wrong_iss="http://127.0.0.1:1")
    _, _, q = authorize(http, peer)
    assert q["iss"] == "http://127.0.0.1:1"
    peer.control(wrong_iss=False, omit_iss=True)
    _, _, q = authorize(http, peer)
    assert "code" in q and "iss" not in q
    peer.control(omit_iss=False)
    _, _, q = authorize(http, peer)
    assert q["iss"] == peer.base


def test_authorize_error(http, peer):
    peer.control(authorize_error="access_denied")
    st, target, q = authorize(http, peer)
    assert st == 302 and target == CB
    assert q["error"] == "access_denied" and "code" not in q
    assert q["state"] == "st-123" and q["iss"] == peer.base
    assert peer.stats()["codes_issued"] == 0


def test_token_type_and_extra(http, peer):
    peer.control(token_type="bearer", token_extra={"id_token": "opaque.jwt.x"})
    tok = consent(http, peer)
    assert tok["token_type"] == "bearer" and tok["id_token"] == "opaque.jwt.x"


def test_concurrent_refreshes_spend_the_token_once(http, peer):
    """delay_ms widens the race window; the token is spent atomically:
    exactly one of N racing refreshes with one refresh token wins."""
    tok = consent(http, peer)
    peer.control(delay_ms=400)
    n = 6

    def one(_):
        s = requests.Session()
        s.trust_env = False
        try:
            return refresh(s, peer, tok["refresh_token"])
        finally:
            s.close()

    t0 = time.monotonic()
    with concurrent.futures.ThreadPoolExecutor(n) as ex:
        rs = list(ex.map(one, range(n)))
    elapsed = time.monotonic() - t0
    assert sorted(r.status_code for r in rs) == [200] + [400] * (n - 1)
    s = peer.stats()
    assert s["refresh_calls"] == n and s["refresh_ok"] == 1
    assert s["max_refresh_in_flight"] >= 2      # they overlapped
    assert s["refresh_reuse"] == n - 1
    assert elapsed < 0.4 * n                    # the delays ran in parallel


def test_refresh_token_spent_atomically(http, peer):
    """hold_ms: a pause between finding a refresh token and spending it.
    Racing refreshes still spend it once (they queue on the lock)."""
    tok = consent(http, peer)
    peer.control(hold_ms=150)
    n = 4

    def one(_):
        s = requests.Session()
        s.trust_env = False
        try:
            return refresh(s, peer, tok["refresh_token"])
        finally:
            s.close()

    t0 = time.monotonic()
    with concurrent.futures.ThreadPoolExecutor(n) as ex:
        rs = list(ex.map(one, range(n)))
    assert sorted(r.status_code for r in rs) == [200] + [400] * (n - 1)
    # Only the first finds a live token and holds; the rest are refused.
    assert 0.15 <= time.monotonic() - t0
    assert peer.stats()["refresh_ok"] == 1


# ---- control API ----

def test_control_rejects_bad_switches(http, oauth_peer):
    for bad in ({"no_such_switch": 1}, {"fail_5xx_count": -1},
                {"omit_expires_in": "yes"}, {"expires_in": 1.5}):
        r = http.post(oauth_peer.url("/_control"), json=bad)
        assert r.status_code == 400, bad
    assert oauth_peer.switches()["fail_5xx_count"] == 0
    with pytest.raises(PeerError):
        oauth_peer.control(bogus=True)


def test_register_client_validation(oauth_peer):
    with pytest.raises(PeerError):
        oauth_peer.register_client("pub", "secret", "none", [CB])
    with pytest.raises(PeerError):
        oauth_peer.register_client("conf", None, "client_secret_post", [CB])
    with pytest.raises(PeerError):
        oauth_peer.register_client("c", "s", "private_key_jwt", [CB])
    with pytest.raises(PeerError):
        oauth_peer.register_client("c", "s", "client_secret_basic", [])


def test_stats_and_reset(http, peer):
    tok = consent(http, peer)
    refresh(http, peer, tok["refresh_token"])
    peer.control(expires_in=5, fail_5xx_count=4)
    s = peer.stats()
    assert s["authorize_calls"] == 1 and s["codes_issued"] == 1
    assert s["token_calls"] == {"authorization_code": 1, "refresh_token": 1}
    q = dict(s["authorize_requests"][0])
    assert q["code_challenge_method"] == "S256" and q["client_id"] == CID
    assert len(peer.tokens()) == 2
    peer.reset()
    s = peer.stats()
    assert s["authorize_calls"] == 0 and s["token_calls"] == {}
    assert s["revocations"] == [] and s["max_in_flight"] == 0
    sw = peer.switches()
    assert sw["expires_in"] == 3600 and sw["fail_5xx_count"] == 0
    # Tokens and clients survive a plain reset ...
    assert len(peer.tokens()) == 2
    assert consent(http, peer)["expires_in"] == 3600
    # ... and not a full one.
    peer.reset(tokens=True, clients=True)
    assert peer.tokens() == []
    st, _, _ = authorize(http, peer)
    assert st in (400, 401)


# ---- the fixture and provider_doc ----

def test_peer_process_always_stopped():
    s = requests.Session()
    s.trust_env = False
    with pytest.raises(ZeroDivisionError):
        with OAuthPeer() as p:
            proc, base, tmp = p.proc, p.base, p.dir
            assert s.get(base + "/_stats").status_code == 200
            1 / 0
    assert proc.poll() is not None and not os.path.exists(tmp)
    with pytest.raises(requests.ConnectionError):
        s.get(base + "/_stats", timeout=2)


@pytest.mark.parametrize("how", ["close", "throw"])
def test_fixture_always_stops(how):
    gen = running_peer()
    p = next(gen)
    proc, tmp = p.proc, p.dir
    assert proc.poll() is None and os.path.isdir(tmp)
    if how == "close":          # the test passed: teardown
        gen.close()
    else:                       # the test failed: the error reaches it
        with pytest.raises(AssertionError):
            gen.throw(AssertionError("test failed"))
    assert proc.poll() is not None and not os.path.exists(tmp)


def test_peer_prints_port_first(tmp_path):
    """Without the fixture: the port is the first line of stdout."""
    import subprocess
    from oauthpeer import PYTHON, SERVER
    proc = subprocess.Popen([PYTHON, SERVER], stdout=subprocess.PIPE,
                            stderr=subprocess.DEVNULL, text=True)
    try:
        port = int(proc.stdout.readline())
        s = requests.Session()
        s.trust_env = False
        deadline = time.monotonic() + 10
        while True:
            try:
                m = s.get(f"http://127.0.0.1:{port}/.well-known/"
                          "oauth-authorization-server", timeout=2).json()
                break
            except requests.ConnectionError:
                assert time.monotonic() < deadline
                time.sleep(0.05)
        assert m["issuer"] == f"http://127.0.0.1:{port}"
    finally:
        proc.send_signal(signal.SIGTERM)
        proc.wait(5)


def test_provider_doc(oauth_peer):
    d = provider_doc(oauth_peer, "peer", CID, SECRET)
    assert d == {
        "id": "peer", "display_name": "Test OAuth peer peer",
        "auth_mode": "oauth2", "issuer": oauth_peer.base,
        "authorization_url": oauth_peer.base + "/authorize",
        "token_url": oauth_peer.base + "/token",
        "revocation_url": oauth_peer.base + "/revoke",
        "default_scopes": ["read", "write"], "token_auth": "client_secret_basic",
        "pkce": "S256", "client_id": CID, "client_secret": SECRET,
    }
    d = provider_doc(oauth_peer, "pub", CID, token_auth="none")
    assert "client_secret" not in d and d["token_auth"] == "none"
    d = provider_doc(oauth_peer, "disc", CID, SECRET, discovery=True)
    assert d["issuer"] == oauth_peer.base and "token_url" not in d
    d = provider_doc(oauth_peer, "url", CID, SECRET, discovery="url")
    assert d["discovery_url"] == oauth_peer.metadata_url and "issuer" not in d
    with pytest.raises(ValueError):
        provider_doc(oauth_peer, "x", CID)
    with pytest.raises(ValueError):
        provider_doc(oauth_peer, "x", CID, SECRET, token_auth="none")
