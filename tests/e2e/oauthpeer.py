"""The OAuth 2.0 authorization server peer (peers/authserver.py) for tests.

Use the fixture by importing it into a test module:

    from oauthpeer import oauth_peer, provider_doc   # noqa: F401

    def test_x(oauth_peer):
        oauth_peer.register_client("dromos-app", "s3cret",
                                   "client_secret_basic", [callback_url])
        doc = provider_doc(oauth_peer, "peer", "dromos-app", "s3cret")
        oauth_peer.control(expires_in=2, omit_refresh_token=True)
        assert oauth_peer.stats()["refresh_calls"] == 1

`oauth_peer` is one fresh server per test; `OAuthPeer` (a context manager)
makes one for any other scope, or a second one.

Helpers for driving a flow by hand: make_pkce(), OAuthPeer.authorize_url().
"""
import base64
import hashlib
import json
import os
import secrets
import shutil
import subprocess
import tempfile
import time
import urllib.error
import urllib.parse
import urllib.request

import pytest

HERE = os.path.dirname(os.path.abspath(__file__))
SERVER = os.path.join(HERE, "peers", "authserver.py")
PYTHON = "/usr/bin/python3"

# Never through a proxy: the peer is on loopback.
_opener = urllib.request.build_opener(urllib.request.ProxyHandler({}))


class PeerError(RuntimeError):
    pass


class OAuthPeer:
    """One authorization server process.

    base        the server's base URL, "http://127.0.0.1:<port>", which is
                also its issuer
    authorize_endpoint, token_endpoint, revocation_endpoint, metadata_url,
    openid_metadata_url, resource_url
    """

    def __init__(self, start_timeout=15.0):
        self.start_timeout = start_timeout
        self.proc = None
        self.dir = None
        self.port = None
        self.base = None

    # -- lifecycle --

    def start(self):
        self.dir = tempfile.mkdtemp(prefix="dromos-oauthpeer-")
        portfile = os.path.join(self.dir, "port")
        self.log_path = os.path.join(self.dir, "authserver.log")
        log = open(self.log_path, "wb")
        try:
            self.proc = subprocess.Popen(
                [PYTHON, SERVER, "--port-file", portfile],
                stdin=subprocess.DEVNULL, stdout=log,
                stderr=subprocess.STDOUT, start_new_session=True)
        finally:
            log.close()
        deadline = time.monotonic() + self.start_timeout
        while not os.path.exists(portfile):
            if self.proc.poll() is not None:
                raise PeerError("authserver exited with %s:\n%s"
                                % (self.proc.returncode, self.log()))
            if time.monotonic() > deadline:
                raise PeerError("authserver did not start:\n" + self.log())
            time.sleep(0.02)
        with open(portfile) as f:
            self.port = int(f.read().strip())
        self.base = f"http://127.0.0.1:{self.port}"
        while True:
            try:
                st, _, _ = self.request("GET", "/.well-known/oauth-authorization-server")
                if st == 200:
                    break
            except OSError:
                pass
            if self.proc.poll() is not None or time.monotonic() > deadline:
                raise PeerError("authserver does not answer:\n" + self.log())
            time.sleep(0.02)
        return self

    def stop(self):
        if self.proc is not None and self.proc.poll() is None:
            self.proc.terminate()
            try:
                self.proc.wait(5)
            except subprocess.TimeoutExpired:
                self.proc.kill()
                self.proc.wait(5)
        self.proc = None
        if self.dir is not None:
            shutil.rmtree(self.dir, ignore_errors=True)
            self.dir = None

    def __enter__(self):
        try:
            return self.start()
        except BaseException:
            self.stop()
            raise

    def __exit__(self, *exc):
        self.stop()

    def log(self):
        """What the server wrote (werkzeug's request log, tracebacks)."""
        try:
            with open(self.log_path, errors="replace") as f:
                return f.read()
        except (OSError, AttributeError):
            return ""

    # -- URLs --

    @property
    def issuer(self):
        return self.base

    def url(self, path):
        return self.base + path

    authorize_endpoint = property(lambda self: self.base + "/authorize")
    token_endpoint = property(lambda self: self.base + "/token")
    revocation_endpoint = property(lambda self: self.base + "/revoke")
    resource_url = property(lambda self: self.base + "/resource")
    metadata_url = property(
        lambda self: self.base + "/.well-known/oauth-authorization-server")
    openid_metadata_url = property(
        lambda self: self.base + "/.well-known/openid-configuration")

    # -- HTTP --

    def request(self, method, path, body=None, headers=None):
        """(status, headers, parsed JSON or raw bytes); never follows
        redirects, never raises for an HTTP status."""
        data = None
        hdrs = dict(headers or {})
        if body is not None:
            data = json.dumps(body).encode()
            hdrs.setdefault("Content-Type", "application/json")
        req = urllib.request.Request(self.base + path, data=data,
                                     headers=hdrs, method=method)
        try:
            with _opener.open(req, timeout=10) as r:
                st, h, raw = r.status, r.headers, r.read()
        except urllib.error.HTTPError as e:
            st, h, raw = e.code, e.headers, e.read()
        if (h.get("Content-Type") or "").startswith("application/json"):
            return st, h, json.loads(raw)
        return st, h, raw

    def _ok(self, method, path, body=None, expect=(200,)):
        st, _, doc = self.request(method, path, body)
        if st not in expect:
            raise PeerError(f"{method} {path}: {st} {doc!r}")
        return doc

    # -- control API --

    def control(self, **switches):
        """Set switches (peers/authserver.py SWITCHES); the ones in force."""
        return self._ok("POST", "/_control", switches)

    def switches(self):
        return self._ok("GET", "/_control")

    def stats(self):
        return self._ok("GET", "/_stats")

    def tokens(self):
        """Every token issued: access/refresh strings, revoked, rotated."""
        return self._ok("GET", "/_tokens")

    def reset(self, tokens=False, clients=False):
        """Switches to defaults, counters to zero (and optionally forget
        issued codes and tokens, or the clients)."""
        return self._ok("POST", "/_reset",
                        {"tokens": tokens, "clients": clients})

    def revoke_all(self):
        """Revoke every token, as a user withdrawing consent would."""
        return self._ok("POST", "/_revoke_all", {})

    def register_client(self, client_id, secret=None,
                        auth_method="client_secret_basic",
                        redirect_uris=(), scope=None):
        """Register (or replace) a client.  auth_method: client_secret_basic,
        client_secret_post or none (then secret must be None).  The client
        must authenticate with exactly that method, at /token and /revoke.
        redirect_uris are compared exactly.  scope: allowed scopes, or None
        for any."""
        if isinstance(redirect_uris, str):
            redirect_uris = [redirect_uris]
        return self._ok("POST", "/_clients", {
            "client_id": client_id, "client_secret": secret,
            "token_endpoint_auth_method": auth_method,
            "redirect_uris": list(redirect_uris), "scope": scope,
        }, expect=(201,))

    # -- driving a flow by hand --

    def authorize_url(self, client_id, redirect_uri, code_challenge,
                      state=None, scope=None, method="S256", **extra):
        q = {"response_type": "code", "client_id": client_id,
             "redirect_uri": redirect_uri}
        if scope is not None:
            q["scope"] = scope
        if state is not None:
            q["state"] = state
        if code_challenge is not None:
            q["code_challenge"] = code_challenge
        if method is not None:
            q["code_challenge_method"] = method
        q.update(extra)
        return self.authorize_endpoint + "?" + urllib.parse.urlencode(q)


def make_pkce():
    """(code_verifier, S256 code_challenge), RFC 7636 §4.1–4.2."""
    verifier = secrets.token_urlsafe(48)[:64]
    digest = hashlib.sha256(verifier.encode("ascii")).digest()
    challenge = base64.urlsafe_b64encode(digest).rstrip(b"=").decode()
    return verifier, challenge


def provider_doc(peer, id, client_id, client_secret=None, *,
                 token_auth="client_secret_basic",
                 default_scopes=("read", "write"),
                 display_name=None, discovery=False, revocation=True,
                 **extra):
    """A Dromos provider document (DESIGN §9, unpriv/provider.h) for peer.

    discovery=False names every endpoint and the issuer; discovery=True
    gives only the issuer (the broker reads the metadata); discovery="url"
    gives discovery_url (RFC 8414 path) instead.  revocation=False leaves
    revocation_url out.  extra: further fields (scope_separator,
    authorization_params, token_params, token_expiration_buffer, ...).
    With token_auth "none" the document has no client_secret.
    """
    doc = {
        "id": id,
        "display_name": display_name or f"Test OAuth peer {id}",
        "auth_mode": "oauth2",
        "default_scopes": list(default_scopes),
        "token_auth": token_auth,
        "pkce": "S256",
        "client_id": client_id,
    }
    if discovery == "url":
        doc["discovery_url"] = peer.metadata_url
    else:
        doc["issuer"] = peer.issuer
    if not discovery:
        doc["authorization_url"] = peer.authorize_endpoint
        doc["token_url"] = peer.token_endpoint
        if revocation:
            doc["revocation_url"] = peer.revocation_endpoint
    if token_auth != "none":
        if client_secret is None:
            raise ValueError(f"token_auth {token_auth} needs a client_secret")
        doc["client_secret"] = client_secret
    elif client_secret is not None:
        raise ValueError("token_auth none takes no client_secret")
    doc.update(extra)
    return doc


def running_peer():
    """Generator behind the fixture: start, yield the peer, always stop
    (also when start fails or the test raises)."""
    peer = OAuthPeer()
    try:
        peer.start()
        yield peer
    finally:
        peer.stop()


@pytest.fixture
def oauth_peer():
    """A fresh authorization server for one test; always stopped."""
    yield from running_peer()
