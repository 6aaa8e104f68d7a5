#!/usr/bin/python3
"""A real OAuth 2.0 authorization server for the end-to-end tests.

Authlib's AuthorizationServer on Flask, everything in memory:

  - authorization code grant (RFC 6749 §4.1) with PKCE (RFC 7636), S256 only
    and required of every client, confidential or public;
  - refresh token grant (RFC 6749 §6) with rotation: each refresh answers a
    new refresh token and revokes the one presented;
  - token revocation (RFC 7009);
  - metadata (RFC 8414, and the same document at the OpenID path), with
    `authorization_response_iss_parameter_supported`, and `iss` on every
    authorization response (RFC 9207).

The authorization endpoint approves at once (there is no user to ask), so a
test drives the whole flow with an HTTP client that follows redirects.

Tests steer it through a control API on the same listener:

  POST /_control   JSON {switch: value, ...}: set switches (SWITCHES below);
                   an unknown switch or a bad value is a 400.  Answers the
                   switches now in force.  GET /_control reads them.
  POST /_clients   JSON {client_id, client_secret, token_endpoint_auth_method,
                   redirect_uris, scope}: register (or replace) a client.
  GET  /_stats     the counters (see Peer.stats_doc).
  GET  /_tokens    every token issued, with its state.
  POST /_reset     switches back to their defaults, counters to zero; with
                   JSON {"tokens": true} also forget codes and tokens, with
                   {"clients": true} also the clients.
  POST /_revoke_all  revoke every refresh and access token (the user
                   withdrew consent at the provider).

It also serves GET /resource, a protected resource that answers 200 for a
live access token (Authorization: Bearer) and 401 otherwise.

Usage: authserver.py [--host 127.0.0.1] [--port 0] [--port-file PATH]
The port is printed on the first line of stdout (and written to PATH, by a
rename, when --port-file is given).  Plain http, on loopback only.
"""
import argparse
import os
import secrets
import sys
import threading
import time
from urllib.parse import parse_qsl, urlencode, urlsplit, urlunsplit

# Plain http is fine here: the server listens on loopback only.
os.environ["AUTHLIB_INSECURE_TRANSPORT"] = "1"

from authlib.integrations.flask_oauth2 import AuthorizationServer  # noqa: E402
from authlib.oauth2 import OAuth2Error  # noqa: E402
from authlib.oauth2.rfc6749 import grants  # noqa: E402
from authlib.oauth2.rfc6749.errors import InvalidRequestError  # noqa: E402
from authlib.oauth2.rfc7009 import RevocationEndpoint  # noqa: E402
from authlib.oauth2.rfc7636 import CodeChallenge  # noqa: E402
from authlib.oauth2.rfc7636.challenge import compare_s256_code_challenge  # noqa: E402
from flask import Flask, Response, g, jsonify, request  # noqa: E402
from werkzeug.serving import make_server  # noqa: E402

AUTH_METHODS = ["client_secret_basic", "client_secret_post", "none"]
CODE_LIFETIME = 600

# name: (default, kind).  Kinds: "bool"; "count" (consumed one per matching
# call; true counts as 1); "int" (>= 0); "str" (a string or null);
# "bool_or_str"; "object".
SWITCHES = {
    # Token responses (both grants) leave out refresh_token / expires_in.
    "omit_refresh_token": (False, "bool"),
    "omit_expires_in": (False, "bool"),
    # Lifetime of access tokens issued from now on, in seconds.
    "expires_in": (3600, "int"),
    # The next N token calls (any grant) answer 500 (fail_5xx_status) /
    # 429 with Retry-After: retry_after.  5xx is consumed before 429.
    "fail_5xx_count": (0, "count"),
    "fail_5xx_status": (500, "int"),
    "fail_429_count": (0, "count"),
    "retry_after": (1, "int"),
    # The next N refresh calls answer 400 invalid_grant (the refresh token
    # itself is left alone).
    "invalid_grant": (0, "count"),
    # The next N revocation calls answer 503.
    "fail_revoke_count": (0, "count"),
    # Authorization responses carry a wrong iss: true for a fixed wrong
    # issuer, or the exact string to send.  omit_iss leaves iss out.
    "wrong_iss": (False, "bool_or_str"),
    "omit_iss": (False, "bool"),
    # The next authorization responses are this error (RFC 6749 §4.1.2.1),
    # e.g. "access_denied", instead of a code.
    "authorize_error": (None, "str"),
    # Every token call waits this long before it is handled (outside the
    # lock, so concurrent calls overlap).
    "delay_ms": (0, "int"),
    # Every refresh call sleeps this long between finding its refresh token
    # and spending it, holding the server's lock: racing refreshes are
    # handled one after the other, and a peer that did not spend tokens
    # atomically would be caught.
    "hold_ms": (0, "int"),
    # token_type in token responses.
    "token_type": ("Bearer", "str"),
    # Extra members merged into successful token responses.
    "token_extra": ({}, "object"),
    # Metadata: authorization_response_iss_parameter_supported, and an
    # issuer that differs from the server's own (true, or the string).
    "advertise_iss": (True, "bool"),
    "metadata_wrong_issuer": (False, "bool_or_str"),
}

WRONG_ISSUER = "https://evil.example"


def _check_switch(name, value):
    """The value to store, or raise ValueError."""
    if name not in SWITCHES:
        raise ValueError(f"unknown switch {name!r}")
    kind = SWITCHES[name][1]
    if kind == "bool":
        if not isinstance(value, bool):
            raise ValueError(f"{name} must be true or false")
        return value
    if kind in ("count", "int"):
        if kind == "count" and isinstance(value, bool):
            return 1 if value else 0
        if isinstance(value, bool) or not isinstance(value, int) or value < 0:
            raise ValueError(f"{name} must be an integer >= 0")
        return value
    if kind == "str":
        if value is not None and not isinstance(value, str):
            raise ValueError(f"{name} must be a string or null")
        return value
    if kind == "bool_or_str":
        if not isinstance(value, (bool, str)):
            raise ValueError(f"{name} must be true, false or a string")
        return value
    if kind == "object":
        if not isinstance(value, dict):
            raise ValueError(f"{name} must be an object")
        return dict(value)
    raise AssertionError(kind)


def _new_stats():
    return {
        "authorize_calls": 0,
        "authorize_ok": 0,
        "authorize_requests": [],
        "codes_issued": 0,
        "token_calls": {},          # grant_type -> calls (every call)
        "token_issued": {},         # grant_type -> tokens issued
        "token_errors": {},         # error code (or HTTP status) -> count
        "token_requests": [],       # each call: grant_type, auth method, form
        "refresh_calls": 0,
        "refresh_ok": 0,
        "refresh_reuse": 0,         # a rotated or revoked refresh token shown
        "in_flight": 0,
        "max_in_flight": 0,         # token calls at once, highest seen
        "refresh_in_flight": 0,
        "max_refresh_in_flight": 0,
        "injected": {"5xx": 0, "429": 0, "invalid_grant": 0, "revoke_5xx": 0},
        "revocation_calls": 0,
        "revocations": [],          # each call: token, hint, client, kind
        "revoked_tokens": [],       # the token strings actually revoked
        "resource_calls": 0,
        "resource_ok": 0,
    }


class Client:
    def __init__(self, client_id, client_secret, auth_method, redirect_uris,
                 scope=None):
        self.client_id = client_id
        self.client_secret = client_secret
        self.token_endpoint_auth_method = auth_method
        self.redirect_uris = list(redirect_uris)
        self.scope = scope      # allowed scopes (a list) or None: any

    # ClientMixin
    def get_client_id(self):
        return self.client_id

    def get_default_redirect_uri(self):
        # The broker always sends redirect_uri; one is never implied.
        return None

    def get_allowed_scope(self, scope):
        if not scope:
            return ""
        words = scope.split()
        if self.scope is not None:
            words = [w for w in words if w in self.scope]
        return " ".join(words)

    def check_redirect_uri(self, redirect_uri):
        # Exact string comparison (RFC 9700 §2.1).
        return redirect_uri in self.redirect_uris

    def check_client_secret(self, client_secret):
        if self.client_secret is None:
            return False
        return secrets.compare_digest(self.client_secret.encode(),
                                      client_secret.encode())

    def check_endpoint_auth_method(self, method, endpoint):
        # The token and revocation endpoints both insist on the one method
        # the client was registered with.
        return method == self.token_endpoint_auth_method

    def check_response_type(self, response_type):
        return response_type == "code"

    def check_grant_type(self, grant_type):
        return grant_type in ("authorization_code", "refresh_token")


class AuthCode:
    def __init__(self, code, client_id, redirect_uri, scope, user,
                 challenge, method):
        self.code = code
        self.client_id = client_id
        self.redirect_uri = redirect_uri
        self.scope = scope
        self.user = user
        self.code_challenge = challenge
        self.code_challenge_method = method
        self.expires_at = time.time() + CODE_LIFETIME

    def get_redirect_uri(self):
        return self.redirect_uri

    def get_scope(self):
        return self.scope


class Token:
    def __init__(self, client_id, user, grant_type, tok):
        self.client_id = client_id
        self.user = user
        self.grant_type = grant_type
        self.access_token = tok["access_token"]
        self.refresh_token = tok.get("refresh_token")
        self.scope = tok.get("scope", "")
        self.expires_in = tok.get("expires_in")
        self.issued_at = time.time()
        self.access_revoked = False
        self.refresh_revoked = False
        self.rotated = False    # refresh token revoked by rotation

    def check_client(self, client):
        return self.client_id == client.client_id

    def get_scope(self):
        return self.scope

    def get_expires_in(self):
        return self.expires_in

    def access_live(self):
        if self.access_revoked:
            return False
        return (self.expires_in is None or
                time.time() < self.issued_at + self.expires_in)

    def view(self):
        return {
            "client_id": self.client_id,
            "grant_type": self.grant_type,
            "access_token": self.access_token,
            "refresh_token": self.refresh_token,
            "scope": self.scope,
            "expires_in": self.expires_in,
            "issued_at": self.issued_at,
            "access_revoked": self.access_revoked,
            "refresh_revoked": self.refresh_revoked,
            "rotated": self.rotated,
            "access_live": self.access_live(),
        }


class User:
    def __init__(self, sub):
        self.id = sub


USER = User("user-1")


class State:
    """Everything the server knows; guarded by lock."""

    def __init__(self):
        self.lock = threading.RLock()
        self.clients = {}
        self.reset(tokens=True)

    def reset(self, tokens=False, clients=False):
        with self.lock:
            self.switches = {k: (dict(v[0]) if isinstance(v[0], dict) else v[0])
                             for k, v in SWITCHES.items()}
            self.stats = _new_stats()
            if tokens:
                self.codes = {}
                self.tokens = []
                self.by_access = {}
                self.by_refresh = {}
            if clients:
                self.clients = {}

    def take(self, name):
        """Consume one of a count switch; True if there was one."""
        with self.lock:
            if self.switches[name] > 0:
                self.switches[name] -= 1
                return True
            return False

    def bump(self, d, key):
        d[key] = d.get(key, 0) + 1


S = State()


# ---- Authlib plumbing ----

class S256Only(CodeChallenge):
    """PKCE for every client, S256 only (RFC 9700 §2.1.1)."""
    DEFAULT_CODE_CHALLENGE_METHOD = "S256"
    SUPPORTED_CODE_CHALLENGE_METHOD = ["S256"]
    CODE_CHALLENGE_METHODS = {"S256": compare_s256_code_challenge}

    def validate_code_challenge(self, grant):
        data = grant.request.data
        challenge = data.get("code_challenge")
        method = data.get("code_challenge_method")
        # The error goes back to the client with its state (RFC 6749
        # §4.1.2.1).
        state = grant.request.state
        if not challenge:
            raise InvalidRequestError('Missing "code_challenge"', state=state)
        # Absent means "plain" (RFC 7636 §4.3): refused like plain itself.
        if method != "S256":
            raise InvalidRequestError(
                'Unsupported "code_challenge_method": only S256', state=state)

    def validate_code_verifier(self, grant):
        if not grant.request.form.get("code_verifier"):
            raise InvalidRequestError('Missing "code_verifier"')
        super().validate_code_verifier(grant)


class CodeGrant(grants.AuthorizationCodeGrant):
    TOKEN_ENDPOINT_AUTH_METHODS = AUTH_METHODS

    def save_authorization_code(self, code, req):
        with S.lock:
            S.codes[code] = AuthCode(
                code, req.client.client_id, req.redirect_uri, req.scope,
                req.user, req.data.get("code_challenge"),
                req.data.get("code_challenge_method"))
            S.stats["codes_issued"] += 1

    def query_authorization_code(self, code, client):
        with S.lock:
            c = S.codes.get(code)
        if (c is not None and c.client_id == client.client_id and
                time.time() < c.expires_at):
            return c
        return None

    def delete_authorization_code(self, authorization_code):
        with S.lock:
            S.codes.pop(authorization_code.code, None)

    def authenticate_user(self, authorization_code):
        return authorization_code.user


class RefreshGrant(grants.RefreshTokenGrant):
    TOKEN_ENDPOINT_AUTH_METHODS = AUTH_METHODS
    INCLUDE_NEW_REFRESH_TOKEN = True

    def authenticate_refresh_token(self, refresh_token):
        with S.lock:
            t = S.by_refresh.get(refresh_token)
            if t is None:
                return None
            if t.refresh_revoked:
                S.stats["refresh_reuse"] += 1
                return None
            hold = S.switches["hold_ms"]
        if hold:
            time.sleep(hold / 1000.0)
        return t

    def authenticate_user(self, credential):
        return credential.user

    def issue_token(self, user, credential):
        # The lifetime comes from the switches, not from the old token.
        scope = self.request.scope or credential.get_scope()
        return self.generate_token(user=user, scope=scope,
                                   include_refresh_token=True)

    def revoke_old_credential(self, credential):
        pass    # done in save_token, which sees the new token


class Revocation(RevocationEndpoint):
    CLIENT_AUTH_METHODS = AUTH_METHODS

    def query_token(self, token_string, token_type_hint):
        # The hint only orders the lookup (RFC 7009 §2.1).
        with S.lock:
            if token_type_hint == "refresh_token":
                return (S.by_refresh.get(token_string) or
                        S.by_access.get(token_string))
            return (S.by_access.get(token_string) or
                    S.by_refresh.get(token_string))

    def revoke_token(self, token, req):
        s = req.form["token"]
        with S.lock:
            revoked = []
            if s == token.refresh_token:
                # A refresh token takes its access token with it (§2.1).
                kind = "refresh_token"
                if not token.refresh_revoked:
                    revoked.append(token.refresh_token)
                token.refresh_revoked = True
                if not token.access_revoked:
                    revoked.append(token.access_token)
                token.access_revoked = True
            else:
                kind = "access_token"
                if not token.access_revoked:
                    revoked.append(token.access_token)
                token.access_revoked = True
            g.revocation["kind"] = kind
            S.stats["revoked_tokens"].extend(revoked)


def generate_token(grant_type, client, user=None, scope=None,
                   expires_in=None, include_refresh_token=True):
    with S.lock:
        sw = dict(S.switches)
    tok = {"access_token": "pat_" + secrets.token_urlsafe(30),
           "token_type": sw["token_type"]}
    if not sw["omit_expires_in"]:
        tok["expires_in"] = sw["expires_in"]
    if include_refresh_token and not sw["omit_refresh_token"]:
        tok["refresh_token"] = "prt_" + secrets.token_urlsafe(36)
    scope = client.get_allowed_scope(scope)
    if scope:
        tok["scope"] = scope
    for k, v in sw["token_extra"].items():
        tok[k] = v
    return tok


def save_token(tok, req):
    t = Token(req.client.client_id, req.user, req.grant_type, tok)
    with S.lock:
        old = req.credential if req.grant_type == "refresh_token" else None
        if old is not None and t.refresh_token is None:
            # No new refresh token: the old one stays the live one.
            pass
        elif old is not None:
            old.refresh_revoked = True
            old.rotated = True
        S.tokens.append(t)
        S.by_access[t.access_token] = t
        if t.refresh_token is not None:
            S.by_refresh[t.refresh_token] = t
        S.bump(S.stats["token_issued"], req.grant_type)
        if req.grant_type == "refresh_token":
            S.stats["refresh_ok"] += 1


def query_client(client_id):
    with S.lock:
        return S.clients.get(client_id)


app = Flask(__name__)
server = AuthorizationServer(app, query_client=query_client,
                             save_token=save_token)
server.register_token_generator("default", generate_token)
server.register_grant(CodeGrant, [S256Only(required=True)])
server.register_grant(RefreshGrant)
server.register_endpoint(Revocation)

# Set at start: the base URL, which is also the issuer.
BASE = {"url": None}


def issuer():
    return BASE["url"]


def _with_params(uri, params):
    parts = urlsplit(uri)
    q = parse_qsl(parts.query, keep_blank_values=True) + list(params)
    return urlunsplit(parts._replace(query=urlencode(q)))


def _iss_param():
    with S.lock:
        wrong, omit = S.switches["wrong_iss"], S.switches["omit_iss"]
    if omit:
        return []
    if wrong is True:
        return [("iss", WRONG_ISSUER)]
    if isinstance(wrong, str):
        return [("iss", wrong)]
    return [("iss", issuer())]


def _json_error(status, error, description, headers=None):
    r = jsonify({"error": error, "error_description": description})
    r.status_code = status
    r.headers["Cache-Control"] = "no-store"
    for k, v in (headers or {}).items():
        r.headers[k] = v
    return r


# ---- OAuth endpoints ----

@app.get("/authorize")
def authorize():
    with S.lock:
        S.stats["authorize_calls"] += 1
        S.stats["authorize_requests"].append(
            [list(p) for p in request.args.items(multi=True)])
        error = S.switches["authorize_error"]
    try:
        grant = server.get_consent_grant(end_user=USER)
    except OAuth2Error as e:
        resp = server.handle_error_response(None, e)
    else:
        if error:
            params = [("error", error)]
            if grant.request.state:
                params.append(("state", grant.request.state))
            resp = Response("", status=302, headers={
                "Location": _with_params(grant.redirect_uri, params)})
        else:
            resp = server.create_authorization_response(grant_user=USER)
            if resp.status_code == 302:
                with S.lock:
                    S.stats["authorize_ok"] += 1
    # RFC 9207: iss on every response to the client's redirect_uri,
    # errors included.
    loc = resp.headers.get("Location")
    if resp.status_code == 302 and loc:
        resp.headers["Location"] = _with_params(loc, _iss_param())
    resp.headers["Cache-Control"] = "no-store"
    return resp


def _in_flight(refresh, delta):
    with S.lock:
        st = S.stats
        st["in_flight"] += delta
        st["max_in_flight"] = max(st["max_in_flight"], st["in_flight"])
        if refresh:
            st["refresh_in_flight"] += delta
            st["max_refresh_in_flight"] = max(st["max_refresh_in_flight"],
                                              st["refresh_in_flight"])


@app.post("/token")
def token():
    gt = request.form.get("grant_type") or ""
    refresh = gt == "refresh_token"
    form = {k: ("***" if k == "client_secret" else v)
            for k, v in request.form.items()}
    with S.lock:
        S.bump(S.stats["token_calls"], gt)
        if refresh:
            S.stats["refresh_calls"] += 1
        entry = {"grant_type": gt, "form": form,
                 "basic_auth": request.authorization is not None,
                 "status": None}
        S.stats["token_requests"].append(entry)
        delay = S.switches["delay_ms"]
    _in_flight(refresh, 1)
    try:
        if delay:
            time.sleep(delay / 1000.0)
        resp = _token_response(refresh)
    finally:
        _in_flight(refresh, -1)
    with S.lock:
        entry["status"] = resp.status_code
        if resp.status_code != 200:
            err = resp.get_json(silent=True) or {}
            S.bump(S.stats["token_errors"],
                   err.get("error") or str(resp.status_code))
    return resp


def _token_response(refresh):
    if S.take("fail_5xx_count"):
        with S.lock:
            S.stats["injected"]["5xx"] += 1
            status = S.switches["fail_5xx_status"]
        return Response("injected failure\n", status=status,
                        mimetype="text/plain")
    if S.take("fail_429_count"):
        with S.lock:
            S.stats["injected"]["429"] += 1
            after = S.switches["retry_after"]
        return _json_error(429, "slow_down", "injected rate limit",
                           {"Retry-After": str(after)})
    if refresh and S.take("invalid_grant"):
        with S.lock:
            S.stats["injected"]["invalid_grant"] += 1
        return _json_error(400, "invalid_grant",
                           "injected: the refresh token is invalid")
    # One token call at a time: a refresh token is spent atomically, so two
    # racing refreshes with the same one get one success and one
    # invalid_grant, as from a strict provider.
    with S.lock:
        return server.create_token_response()


@app.post("/revoke")
def revoke():
    with S.lock:
        S.stats["revocation_calls"] += 1
        S.stats["revocations"].append({
            "token": request.form.get("token"),
            "token_type_hint": request.form.get("token_type_hint"),
            "client_id": request.form.get("client_id") or (
                request.authorization.username
                if request.authorization else None),
            "kind": None,       # set when the token is known
            "status": None,
        })
        entry = g.revocation = S.stats["revocations"][-1]
    if S.take("fail_revoke_count"):
        with S.lock:
            S.stats["injected"]["revoke_5xx"] += 1
            entry["status"] = 503
        return Response("injected failure\n", status=503,
                        mimetype="text/plain")
    with S.lock:
        resp = server.create_endpoint_response(Revocation.ENDPOINT_NAME)
        entry["status"] = resp.status_code
    return resp


def metadata():
    with S.lock:
        wrong = S.switches["metadata_wrong_issuer"]
        adv = S.switches["advertise_iss"]
    iss = issuer()
    if wrong is True:
        iss = WRONG_ISSUER
    elif isinstance(wrong, str):
        iss = wrong
    base = issuer()
    return jsonify({
        "issuer": iss,
        "authorization_endpoint": base + "/authorize",
        "token_endpoint": base + "/token",
        "revocation_endpoint": base + "/revoke",
        "response_types_supported": ["code"],
        "response_modes_supported": ["query"],
        "grant_types_supported": ["authorization_code", "refresh_token"],
        "token_endpoint_auth_methods_supported": AUTH_METHODS,
        "revocation_endpoint_auth_methods_supported": AUTH_METHODS,
        "code_challenge_methods_supported": ["S256"],
        "authorization_response_iss_parameter_supported": adv,
    })


app.add_url_rule("/.well-known/oauth-authorization-server",
                 "meta_rfc8414", metadata)
app.add_url_rule("/.well-known/openid-configuration", "meta_oidc", metadata)


@app.get("/resource")
def resource():
    auth = request.headers.get("Authorization", "")
    with S.lock:
        S.stats["resource_calls"] += 1
        t = None
        if auth[:7].lower() == "bearer ":
            t = S.by_access.get(auth[7:].strip())
        if t is None or not t.access_live():
            r = jsonify({"error": "invalid_token"})
            r.status_code = 401
            r.headers["WWW-Authenticate"] = 'Bearer error="invalid_token"'
            return r
        S.stats["resource_ok"] += 1
        return jsonify({"sub": t.user.id, "client_id": t.client_id,
                        "scope": t.scope})


# ---- control API ----

def _body():
    if not request.data:
        return {}
    doc = request.get_json(silent=True)
    if not isinstance(doc, dict):
        raise ValueError("the body must be a JSON object")
    return doc


@app.route("/_control", methods=["GET", "POST"])
def control():
    if request.method == "POST":
        try:
            doc = _body()
            new = {k: _check_switch(k, v) for k, v in doc.items()}
        except ValueError as e:
            return jsonify({"error": str(e)}), 400
        with S.lock:
            S.switches.update(new)
    with S.lock:
        return jsonify(S.switches)


@app.post("/_clients")
def register_client():
    try:
        doc = _body()
        cid = doc["client_id"]
        method = doc.get("token_endpoint_auth_method", "client_secret_basic")
        secret = doc.get("client_secret")
        uris = doc["redirect_uris"]
        scope = doc.get("scope")
        if not isinstance(cid, str) or not cid:
            raise ValueError("client_id must be a non-empty string")
        if method not in AUTH_METHODS:
            raise ValueError("unknown token_endpoint_auth_method")
        if method == "none":
            if secret is not None:
                raise ValueError("a public client has no secret")
        elif not isinstance(secret, str) or not secret:
            raise ValueError("a confidential client needs a client_secret")
        if (not isinstance(uris, list) or not uris or
                not all(isinstance(u, str) for u in uris)):
            raise ValueError("redirect_uris must be a list of strings")
        if scope is not None and not (
                isinstance(scope, list) and
                all(isinstance(s, str) for s in scope)):
            raise ValueError("scope must be a list of strings or null")
    except (KeyError, ValueError) as e:
        return jsonify({"error": f"bad client: {e}"}), 400
    with S.lock:
        S.clients[cid] = Client(cid, secret, method, uris, scope)
    return jsonify({"client_id": cid}), 201


@app.get("/_stats")
def stats():
    with S.lock:
        return jsonify(S.stats)


@app.get("/_tokens")
def tokens():
    with S.lock:
        return jsonify([t.view() for t in S.tokens])


@app.post("/_reset")
def reset():
    try:
        doc = _body()
    except ValueError as e:
        return jsonify({"error": str(e)}), 400
    S.reset(tokens=bool(doc.get("tokens")), clients=bool(doc.get("clients")))
    return jsonify({"ok": True})


@app.post("/_revoke_all")
def revoke_all():
    with S.lock:
        for t in S.tokens:
            t.access_revoked = True
            t.refresh_revoked = True
    return jsonify({"ok": True})


def main():
    ap = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    ap.add_argument("--host", default="127.0.0.1")
    ap.add_argument("--port", type=int, default=0)
    ap.add_argument("--port-file")
    a = ap.parse_args()
    if a.host not in ("127.0.0.1", "::1", "localhost"):
        ap.error("plain http: loopback addresses only")
    srv = make_server(a.host, a.port, app, threaded=True)
    port = srv.server_port
    host = f"[{a.host}]" if ":" in a.host else a.host
    BASE["url"] = f"http://{host}:{port}"
    print(port, flush=True)
    if a.port_file:
        tmp = a.port_file + ".tmp"
        with open(tmp, "w") as f:
            f.write(f"{port}\n")
        os.rename(tmp, a.port_file)
    try:
        srv.serve_forever()
    except KeyboardInterrupt:
        pass
    return 0


if __name__ == "__main__":
    sys.exit(main())
