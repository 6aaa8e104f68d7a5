"""dromosctl's operator commands against a stand-in admin socket.

The real broker's admin routes arrive separately; until then `FakeBroker`
answers on a unix socket the way unpriv/API.md says the broker does, records
every request, and can be told to misbehave.  These tests check what an
operator and a script see: aligned tables, `--json`, problem documents as
error lines, the one-time token of `client add`, and that nothing a hostile
broker sends (terminal escapes, a client_secret, a huge answer) gets
through.
"""
import http.server
import json
import os
import socket
import socketserver
import subprocess
import tempfile
import threading

import pytest

REPO = os.path.abspath(os.path.join(os.path.dirname(__file__), "..", ".."))
BUILD = os.environ.get("DROMOS_BUILD", os.path.join(REPO, "build"))
DROMOSCTL = os.path.join(BUILD, "bin", "dromosctl")

PROBLEM = "application/problem+json"

GITHUB = {
    "id": "github", "display_name": "GitHub", "auth_mode": "oauth2",
    "authorization_url": "https://github.com/login/oauth/authorize",
    "token_url": "https://github.com/login/oauth/access_token",
    "default_scopes": ["repo", "read:user"], "client_id": "Iv1.abc",
    "has_client_secret": True,
}
OPENAI = {
    "id": "openai", "display_name": "OpenAI", "auth_mode": "api_key",
    "credentials": {"type": "object", "properties": {
        "api_key": {"type": "string", "secret": True}}},
    "has_client_secret": False,
}
CLIENTS = [
    {"id": "7f0c", "name": "billing", "scopes": ["token:read:acme-*"],
     "created_at": "2026-01-02T03:04:05Z", "revoked_at": None},
    {"id": "91aa", "name": "ops-admin", "scopes": ["admin", "connections:write:x"],
     "created_at": "2026-01-03T00:00:00Z", "revoked_at": "2026-02-01T00:00:00Z"},
]
CONNECTIONS = [
    {"connection": "acme-github", "provider": "github", "owner": "acme",
     "status": "active", "created_at": "2026-01-01T00:00:00Z",
     "updated_at": "2026-01-05T10:00:00Z", "expires_at": None,
     "metadata": {}},
    {"connection": "acme-openai-production", "provider": "openai",
     "owner": "acme", "status": "needs_reauth",
     "created_at": "2026-01-01T00:00:00Z",
     "updated_at": "2026-01-06T11:00:00Z", "expires_at": None,
     "metadata": {"org": "acme-org"}},
]
TOKEN = "dro_" + "Zm9vYmFy" * 5 + "AbC"


def problem(status, name, title, detail=None, errors=None):
    doc = {"type": "urn:dromos:problem:" + name, "title": title,
           "status": status}
    if detail is not None:
        doc["detail"] = detail
    if errors is not None:
        doc["errors"] = errors
    return (status, PROBLEM, json.dumps(doc).encode())


def ok(status, doc):
    return (status, "application/json", json.dumps(doc).encode())


class _Handler(http.server.BaseHTTPRequestHandler):
    protocol_version = "HTTP/1.1"

    def log_message(self, *args):
        pass

    def _handle(self):
        n = int(self.headers.get("Content-Length") or 0)
        body = self.rfile.read(n) if n else b""
        broker = self.server.broker
        broker.requests.append({"method": self.command, "path": self.path,
                                "headers": dict(self.headers), "body": body})
        route = broker.routes.get((self.command, self.path))
        if route is None:
            route = problem(404, "not-found", "Not found",
                            f"no route for {self.command} {self.path}")
        if callable(route):
            route = route(self, body)
            if route is None:       # the callable answered by itself
                return
        status, ctype, payload = route
        self.send_response(status)
        if ctype:
            self.send_header("Content-Type", ctype)
        self.send_header("Content-Length", str(len(payload)))
        self.end_headers()
        self.wfile.write(payload)

    do_GET = do_POST = do_PUT = do_DELETE = _handle


class _Server(socketserver.ThreadingMixIn, socketserver.UnixStreamServer):
    daemon_threads = True


class FakeBroker:
    """An admin socket answering like unpriv/API.md, with settable routes."""

    def __init__(self, path):
        self.sock = path
        self.requests = []
        self.routes = {
            ("GET", "/providers"): ok(200, {"providers": [GITHUB, OPENAI]}),
            ("GET", "/providers/github"): ok(200, GITHUB),
            ("POST", "/providers"): ok(201, GITHUB),
            ("PUT", "/providers/github"): ok(200, GITHUB),
            ("DELETE", "/providers/github"): (204, None, b""),
            ("GET", "/clients"): ok(200, {"clients": CLIENTS}),
            ("POST", "/clients"): ok(201, {
                "id": "c0ff", "name": "svc", "scopes": ["token:read:acme-*"],
                "created_at": "2026-01-07T00:00:00Z", "token": TOKEN}),
            ("DELETE", "/clients/billing"): (204, None, b""),
            ("GET", "/connections"): ok(200, {"connections": CONNECTIONS}),
            ("GET", "/connections/acme-openai-production"):
                ok(200, CONNECTIONS[1]),
        }
        self.server = _Server(path, _Handler)
        self.server.broker = self
        self.thread = threading.Thread(target=self.server.serve_forever,
                                       kwargs={"poll_interval": 0.05},
                                       daemon=True)
        self.thread.start()

    def close(self):
        self.server.shutdown()
        self.server.server_close()


@pytest.fixture
def tmp():
    with tempfile.TemporaryDirectory(prefix="dromos-ctl-") as d:
        yield d


@pytest.fixture
def broker(tmp):
    b = FakeBroker(os.path.join(tmp, "admin.sock"))
    yield b
    b.close()


def ctl(*args, sock=None, env=None, input=None):
    e = {k: v for k, v in os.environ.items() if k != "DROMOS_ADMIN_SOCKET"}
    e.update(env or {})
    argv = [DROMOSCTL] + (["-s", sock] if sock else []) + list(args)
    return subprocess.run(argv, capture_output=True, env=e, input=input,
                          timeout=30)


def out(r):
    return r.stdout.decode()


def err(r):
    return r.stderr.decode()


def write(tmp, name, data):
    p = os.path.join(tmp, name)
    with open(p, "wb") as f:
        f.write(data if isinstance(data, bytes) else data.encode())
    return p


# --- tables ---------------------------------------------------------------

def test_provider_list_table(broker):
    r = ctl("provider", "list", sock=broker.sock)
    assert r.returncode == 0, err(r)
    assert out(r) == (
        "ID      NAME    MODE     SECRET\n"
        "github  GitHub  oauth2   yes\n"
        "openai  OpenAI  api_key  no\n")
    assert r.stderr == b""
    assert broker.requests[0]["method"] == "GET"
    assert broker.requests[0]["path"] == "/providers"


def test_client_list_table(broker):
    r = ctl("client", "list", sock=broker.sock)
    assert r.returncode == 0, err(r)
    assert out(r).splitlines() == [
        "NAME       ID    SCOPES                     CREATED               REVOKED",
        "billing    7f0c  token:read:acme-*          2026-01-02T03:04:05Z  -",
        "ops-admin  91aa  admin,connections:write:x  2026-01-03T00:00:00Z  2026-02-01T00:00:00Z",
    ]


def test_connection_list_table(broker):
    r = ctl("connection", "list", sock=broker.sock)
    assert r.returncode == 0, err(r)
    lines = out(r).splitlines()
    assert lines == [
        "CONNECTION              PROVIDER  OWNER  STATUS        UPDATED",
        "acme-github             github    acme   active        2026-01-05T10:00:00Z",
        "acme-openai-production  openai    acme   needs_reauth  2026-01-06T11:00:00Z",
    ]


def test_empty_list_prints_header(broker):
    broker.routes[("GET", "/connections")] = ok(200, {"connections": []})
    r = ctl("connection", "list", sock=broker.sock)
    assert r.returncode == 0
    assert out(r) == "CONNECTION  PROVIDER  OWNER  STATUS  UPDATED\n"


def test_connection_show(broker):
    r = ctl("connection", "show", "acme-openai-production", sock=broker.sock)
    assert r.returncode == 0, err(r)
    lines = out(r).splitlines()
    assert lines[0] == "connection:  acme-openai-production"
    assert "status:      needs_reauth" in lines
    assert "expires_at:  -" in lines
    assert 'metadata:    {"org":"acme-org"}' in lines


def test_provider_show(broker):
    r = ctl("provider", "show", "github", sock=broker.sock)
    assert r.returncode == 0, err(r)
    lines = out(r).splitlines()
    assert lines[0] == "id:                 github"
    assert "default_scopes:     repo, read:user" in lines
    assert "has_client_secret:  yes" in lines


# --- --json and the socket options -----------------------------------------

@pytest.mark.parametrize("where", ["before", "after", "short"])
def test_json_output(broker, where):
    if where == "before":
        r = ctl("--json", "client", "list", sock=broker.sock)
    elif where == "after":
        r = ctl("client", "list", "--json", "-s", broker.sock)
    else:
        r = ctl("-j", "client", "list", sock=broker.sock)
    assert r.returncode == 0, err(r)
    assert json.loads(out(r)) == {"clients": CLIENTS}
    assert out(r).startswith("{\n  \"clients\": [")   # indented


def test_socket_from_environment(broker):
    r = ctl("connection", "list", env={"DROMOS_ADMIN_SOCKET": broker.sock})
    assert r.returncode == 0, err(r)
    assert "acme-github" in out(r)


def test_socket_option_overrides_environment(broker, tmp):
    r = ctl("connection", "list", sock=broker.sock,
            env={"DROMOS_ADMIN_SOCKET": os.path.join(tmp, "nope.sock")})
    assert r.returncode == 0, err(r)


def test_missing_socket(tmp):
    path = os.path.join(tmp, "absent.sock")
    r = ctl("provider", "list", sock=path)
    assert r.returncode == 1
    assert r.stdout == b""
    lines = err(r).splitlines()
    assert len(lines) == 1
    assert path in lines[0] and "No such file or directory" in lines[0]


def test_refused_socket(tmp):
    path = os.path.join(tmp, "dead.sock")
    s = socket.socket(socket.AF_UNIX, socket.SOCK_STREAM)
    s.bind(path)        # bound, never listening: connect(2) is refused
    try:
        r = ctl("client", "list", sock=path)
    finally:
        s.close()
    assert r.returncode == 1
    assert err(r).splitlines() == [
        f"dromosctl: cannot connect to {path}: Connection refused"
        " (is dromosd running?)"]


@pytest.mark.parametrize("path,msg", [
    ("", "empty admin socket path"),
    ("/tmp/" + "a" * 120, "socket path too long"),
])
def test_unusable_socket_path(path, msg):
    r = subprocess.run([DROMOSCTL, "-s", path, "provider", "list"],
                       capture_output=True, timeout=30)
    assert r.returncode == 1
    assert msg in err(r)


def test_default_socket_is_named(tmp):
    if os.path.exists("/run/dromos/admin.sock"):
        pytest.skip("a broker is running here")
    r = ctl("connection", "list")
    assert r.returncode == 1
    assert "/run/dromos/admin.sock" in err(r)


# --- providers ---------------------------------------------------------------

PROVIDER_FILE = json.dumps({
    "id": "github", "display_name": "GitHub", "auth_mode": "oauth2",
    "client_id": "Iv1.abc", "client_secret": "s3cr3t-never-printed",
}, indent=2) + "\n"


def test_provider_add_sends_the_file(broker, tmp):
    path = write(tmp, "github.json", PROVIDER_FILE)
    r = ctl("provider", "add", path, sock=broker.sock)
    assert r.returncode == 0, err(r)
    assert out(r) == "provider github added\n"
    req = broker.requests[-1]
    assert (req["method"], req["path"]) == ("POST", "/providers")
    assert req["headers"]["Content-Type"] == "application/json"
    assert req["body"] == PROVIDER_FILE.encode()


def test_provider_add_from_stdin(broker):
    r = ctl("provider", "add", "-", sock=broker.sock,
            input=PROVIDER_FILE.encode())
    assert r.returncode == 0, err(r)
    assert broker.requests[-1]["body"] == PROVIDER_FILE.encode()


def test_provider_secret_never_printed(broker, tmp):
    """A broken broker echoing client_secret: dromosctl drops it."""
    leaky = dict(GITHUB, client_secret="s3cr3t-never-printed")
    broker.routes[("POST", "/providers")] = ok(201, leaky)
    broker.routes[("GET", "/providers/github")] = ok(200, leaky)
    broker.routes[("GET", "/providers")] = ok(200, {"providers": [leaky]})
    path = write(tmp, "github.json", PROVIDER_FILE)
    for args in (["provider", "add", path], ["--json", "provider", "add", path],
                 ["provider", "show", "github"],
                 ["--json", "provider", "show", "github"],
                 ["--json", "provider", "list"]):
        r = ctl(*args, sock=broker.sock)
        assert r.returncode == 0, (args, err(r))
        assert b"s3cr3t" not in r.stdout + r.stderr, args
    r = ctl("--json", "provider", "show", "github", sock=broker.sock)
    assert json.loads(out(r)) == GITHUB


def test_provider_add_json_prints_the_view(broker, tmp):
    path = write(tmp, "github.json", PROVIDER_FILE)
    r = ctl("provider", "add", "--json", path, sock=broker.sock)
    assert r.returncode == 0, err(r)
    assert json.loads(out(r)) == GITHUB


def test_provider_add_rejects_bad_json(broker, tmp):
    # The syntax error sits inside the secret: its text must not be echoed.
    path = write(tmp, "bad.json",
                 '{"id": "x",\n "client_secret": "s3cr3t\x01tail"}')
    r = ctl("provider", "add", path, sock=broker.sock)
    assert r.returncode == 1
    assert broker.requests == []
    assert f"{path}:2:" in err(r)
    assert "not valid JSON" in err(r)
    assert "s3cr3t" not in err(r) and "tail" not in err(r)


@pytest.mark.parametrize("doc,msg", [
    ('["github"]', "not a JSON object"),
    ('{"id": "a", "id": "b"}', "duplicate"),
    ('{"id": "a"} trailing', "not valid JSON"),
    ('', "not valid JSON"),
])
def test_provider_add_refuses_before_sending(broker, tmp, doc, msg):
    path = write(tmp, "p.json", doc)
    r = ctl("provider", "add", path, sock=broker.sock)
    assert r.returncode == 1
    assert msg in err(r)
    assert broker.requests == []


def test_provider_file_size_cap(broker, tmp):
    big = '{"id": "x", "pad": "' + "a" * (1024 * 1024) + '"}'
    r = ctl("provider", "add", write(tmp, "big.json", big), sock=broker.sock)
    assert r.returncode == 1
    assert "larger than 1048576 bytes" in err(r)
    assert broker.requests == []


def test_provider_file_missing(broker, tmp):
    path = os.path.join(tmp, "nope.json")
    r = ctl("provider", "add", path, sock=broker.sock)
    assert r.returncode == 1
    assert err(r) == f"dromosctl: {path}: No such file or directory\n"


def test_provider_add_validation_errors(broker, tmp):
    broker.routes[("POST", "/providers")] = problem(
        422, "invalid-provider", "Invalid provider",
        "the provider document is not valid",
        [{"path": "$.token_url", "reason": "must be an https URL"},
         {"path": "$.pkce", "reason": "only S256 is supported"}])
    r = ctl("provider", "add", write(tmp, "p.json", PROVIDER_FILE),
            sock=broker.sock)
    assert r.returncode == 1
    assert r.stdout == b""
    assert err(r).splitlines() == [
        "dromosctl: Invalid provider: the provider document is not valid",
        "dromosctl: $.token_url: must be an https URL",
        "dromosctl: $.pkce: only S256 is supported",
    ]


def test_provider_update_puts_on_its_id(broker, tmp):
    path = write(tmp, "github.json", PROVIDER_FILE)
    r = ctl("provider", "update", path, sock=broker.sock)
    assert r.returncode == 0, err(r)
    assert out(r) == "provider github updated\n"
    req = broker.requests[-1]
    assert (req["method"], req["path"]) == ("PUT", "/providers/github")
    assert req["body"] == PROVIDER_FILE.encode()


def test_provider_update_needs_an_id(broker, tmp):
    r = ctl("provider", "update", write(tmp, "p.json", '{"auth_mode": "x"}'),
            sock=broker.sock)
    assert r.returncode == 1
    assert 'no "id"' in err(r)
    assert broker.requests == []


def test_provider_remove(broker):
    r = ctl("provider", "remove", "github", sock=broker.sock)
    assert r.returncode == 0, err(r)
    assert out(r) == "provider github removed\n"
    assert broker.requests[-1]["method"] == "DELETE"


def test_provider_remove_in_use(broker):
    broker.routes[("DELETE", "/providers/github")] = problem(
        409, "in-use", "Provider in use", "2 connections use github")
    r = ctl("provider", "remove", "github", sock=broker.sock)
    assert r.returncode == 1
    assert r.stdout == b""
    assert err(r) == "dromosctl: Provider in use: 2 connections use github\n"


@pytest.mark.parametrize("arg,path", [
    ("a/b c", "/providers/a%2Fb%20c"),
    ("..", "/providers/.."),
    ("x?y#z&", "/providers/x%3Fy%23z%26"),
    ("caf\u00e9", "/providers/caf%C3%A9"),
])
def test_ids_are_escaped(broker, arg, path):
    r = ctl("provider", "show", arg, sock=broker.sock)
    assert r.returncode == 1            # the stand-in knows no such provider
    assert broker.requests[-1]["path"] == path
    assert "Not found" in err(r)


def test_id_after_double_dash(broker):
    r = ctl("provider", "show", "--", "-odd", sock=broker.sock)
    assert r.returncode == 1
    assert broker.requests[-1]["path"] == "/providers/-odd"


# --- clients -----------------------------------------------------------------

def test_client_add_prints_token_once(broker):
    r = ctl("client", "add", "svc", "--scope", "token:read:acme-*",
            "--scope", "connections:write", sock=broker.sock)
    assert r.returncode == 0, err(r)
    assert r.stdout == (TOKEN + "\n").encode()
    lines = err(r).splitlines()
    assert len(lines) == 1 and "will not be shown again" in lines[0]
    assert TOKEN not in err(r)
    req = broker.requests[-1]
    assert (req["method"], req["path"]) == ("POST", "/clients")
    assert req["headers"]["Content-Type"] == "application/json"
    assert json.loads(req["body"]) == {
        "name": "svc", "scopes": ["token:read:acme-*", "connections:write"]}


def test_client_add_json(broker):
    r = ctl("--json", "client", "add", "svc", "--scope", "admin",
            sock=broker.sock)
    assert r.returncode == 0, err(r)
    assert json.loads(out(r))["token"] == TOKEN
    assert out(r).count(TOKEN) == 1
    assert TOKEN not in err(r)


def test_client_add_needs_a_scope(broker):
    r = ctl("client", "add", "svc", sock=broker.sock)
    assert r.returncode == 1
    assert "usage: dromosctl client add" in err(r)
    assert broker.requests == []


def test_client_add_refuses_a_strange_token(broker):
    broker.routes[("POST", "/clients")] = ok(201, {
        "id": "c", "name": "svc", "scopes": ["admin"],
        "token": "dro_abc\x1b]0;pwned\x07"})
    r = ctl("client", "add", "svc", "--scope", "admin", sock=broker.sock)
    assert r.returncode == 1
    assert r.stdout == b""
    assert b"\x1b" not in r.stderr
    assert "no token" in err(r)


def test_client_add_conflict(broker):
    broker.routes[("POST", "/clients")] = problem(
        409, "exists", "Client exists", "a client named svc exists")
    r = ctl("client", "add", "svc", "--scope", "admin", sock=broker.sock)
    assert r.returncode == 1
    assert r.stdout == b""
    assert err(r) == "dromosctl: Client exists: a client named svc exists\n"


def test_client_revoke(broker):
    r = ctl("client", "revoke", "billing", sock=broker.sock)
    assert r.returncode == 0, err(r)
    assert out(r) == "client billing revoked\n"
    assert broker.requests[-1]["method"] == "DELETE"
    assert broker.requests[-1]["path"] == "/clients/billing"


def test_client_revoke_unknown(broker):
    r = ctl("client", "revoke", "ghost", sock=broker.sock)
    assert r.returncode == 1
    assert r.stdout == b""
    assert err(r) == ("dromosctl: Not found: no route for DELETE "
                      "/clients/ghost\n")


# --- hostile or broken answers -------------------------------------------------

def test_control_characters_are_escaped(broker):
    evil = dict(GITHUB, display_name="Git\x1b[2J\x1b]0;x\x07Hub\u009b\u00e9")
    broker.routes[("GET", "/providers")] = ok(200, {"providers": [evil]})
    broker.routes[("GET", "/providers/github")] = ok(200, evil)
    for args in (["provider", "list"], ["provider", "show", "github"],
                 ["--json", "provider", "list"]):
        r = ctl(*args, sock=broker.sock)
        assert r.returncode == 0, err(r)
        assert not any(b < 0x20 and b != 0x0a for b in r.stdout), args
        assert b"\xc2\x9b" not in r.stdout, args
    r = ctl("provider", "list", sock=broker.sock)
    assert "Git\\x1b[2J\\x1b]0;x\\x07Hub\\xc2\\x9b\u00e9" in out(r)


def test_problem_text_is_escaped(broker):
    broker.routes[("GET", "/clients")] = problem(
        500, "internal", "Oops\x1b[31m", "bad\rline",
        [{"path": "$.x\n", "reason": "r"}])
    r = ctl("client", "list", sock=broker.sock)
    assert r.returncode == 1
    assert err(r).splitlines() == [
        "dromosctl: Oops\\x1b[31m: bad\\x0dline",
        "dromosctl: $.x\\x0a: r",
    ]


def test_error_without_problem_document(broker):
    broker.routes[("GET", "/clients")] = (502, "text/html", b"<h1>bad</h1>")
    r = ctl("client", "list", sock=broker.sock)
    assert r.returncode == 1
    assert err(r) == "dromosctl: the broker answered HTTP 502\n"


def test_success_that_is_not_json(broker):
    broker.routes[("GET", "/clients")] = (200, "application/json", b"{nope")
    r = ctl("client", "list", sock=broker.sock)
    assert r.returncode == 1
    assert r.stdout == b""
    assert "malformed answer" in err(r)


def test_success_of_the_wrong_shape(broker):
    broker.routes[("GET", "/clients")] = ok(200, {"clients": {"a": 1}})
    r = ctl("client", "list", sock=broker.sock)
    assert r.returncode == 1
    assert 'no "clients" array' in err(r)
    broker.routes[("GET", "/clients")] = ok(200, {"clients": [1]})
    r = ctl("client", "list", sock=broker.sock)
    assert r.returncode == 1
    assert "element 0 is not an object" in err(r)
    assert r.stdout == b""


def test_answer_size_cap_with_length(broker):
    big = b'{"clients": [], "pad": "' + b"a" * (5 * 1024 * 1024) + b'"}'
    broker.routes[("GET", "/clients")] = (200, "application/json", big)
    r = ctl("client", "list", sock=broker.sock)
    assert r.returncode == 1
    assert "larger than 4194304 bytes" in err(r)


def test_answer_size_cap_without_length(broker):
    def endless(handler, body):
        handler.send_response(200)
        handler.send_header("Content-Type", "application/json")
        handler.send_header("Connection", "close")
        handler.end_headers()
        try:
            handler.wfile.write(b'{"clients": [], "pad": "')
            for _ in range(6 * 16):
                handler.wfile.write(b"a" * 65536)
        except OSError:
            pass                    # dromosctl hung up, as it should
        handler.close_connection = True
        return None
    broker.routes[("GET", "/clients")] = endless
    r = ctl("client", "list", sock=broker.sock)
    assert r.returncode == 1
    assert "larger than 4194304 bytes" in err(r)


# --- usage ---------------------------------------------------------------------

@pytest.mark.parametrize("args", [
    ["provider"], ["provider", "frob"], ["provider", "show"],
    ["provider", "show", "a", "b"], ["provider", "show", ""],
    ["client", "list", "extra"], ["connection", "list", "--bogus"],
    ["-s"], ["--nope", "provider", "list"],
])
def test_usage(broker, args):
    r = ctl(*args, sock=broker.sock) if args[0] != "-s" else ctl(*args)
    assert r.returncode == 1
    assert "usage:" in err(r)
    assert broker.requests == []


def test_usage_lists_every_admin_command():
    r = ctl("connection")
    assert r.returncode == 1
    assert err(r).splitlines() == [
        "usage: dromosctl connection list [-j] [-s socket]",
        "       dromosctl connection show [-j] [-s socket] ID",
        "       dromosctl connection log [-j] [-s socket] ID",
    ]


# --- secrets do not outlive their use -------------------------------------------

GDB = "/usr/bin/gdb"


def _sanitized():
    with open(DROMOSCTL, "rb") as f:
        return b"__asan_init" in f.read()


@pytest.mark.parametrize("what", ["token", "token-json", "client_secret"])
def test_no_secret_left_in_memory(broker, tmp, what):
    """At exit(3), no copy of the token or the client secret is in memory.

    gdb stops dromosctl in exit() and dumps a core; the core must not hold
    the secret, while one dumped before the secret is used must (so the
    search itself works).
    """
    if not os.access(GDB, os.X_OK):
        pytest.skip("no gdb")
    if _sanitized():
        pytest.skip("ASan's shadow memory makes the core too large")
    if what == "client_secret":
        args = ["provider", "add", write(tmp, "p.json", PROVIDER_FILE)]
        secret, used_in = b"s3cr3t-never-printed", "admin_request"
    else:
        args = (["--json"] if what == "token-json" else []) + [
            "client", "add", "svc", "--scope", "admin"]
        secret, used_in = TOKEN.encode(), "table_json" \
            if what == "token-json" else "table_secret"

    def copies(stop):
        core = os.path.join(tmp, "core." + stop)
        r = subprocess.run(
            [GDB, "-q", "-batch", "-ex", f"break {stop}", "-ex", "run",
             "-ex", f"generate-core-file {core}", "-ex", "kill", "--args",
             DROMOSCTL, "-s", broker.sock] + args,
            capture_output=True, timeout=60)
        if not os.path.exists(core):
            pytest.skip("gdb cannot trace here: " + r.stderr.decode()[-200:])
        with open(core, "rb") as f:
            n = f.read().count(secret)
        os.unlink(core)
        return n

    assert copies(used_in) >= 1
    assert copies("exit") == 0
