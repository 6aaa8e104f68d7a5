"""The broker's Prometheus listener, with dromosd's counters served through
it: real processes, real PostgreSQL, known operations, and counters that
must move by exactly what was done (checked against the audit log and the
access_log table where those are the ground truth)."""
import json
import os
import re
import shutil
import socket
import subprocess
import tempfile
import time
import http.client

import psycopg2
import pytest

from dromos import BIN, REPO, Appliance, wait_for
from gateway import free_port
from oauthpeer import oauth_peer  # noqa: F401
import test_oauth as oa

OPENAI_KEY = "sk-PLANTEDmetrics0123456789abcdef"
STRIPE_KEY = "sk_test_PLANTEDmetrics98765"
N_READS = 7

SAMPLE = re.compile(r'^([a-zA-Z_:][a-zA-Z0-9_:]*)(?:\{(.*)\})? (\S+)$')
LABEL = re.compile(r'([a-zA-Z_][a-zA-Z0-9_]*)="((?:[^"\\]|\\.)*)"')


def parse(text):
    """{(name, ((label, value), ...)): float} of every sample."""
    out = {}
    for line in text.splitlines():
        if not line or line.startswith("#"):
            continue
        m = SAMPLE.match(line)
        assert m, f"not a sample line: {line!r}"
        labels = tuple(sorted(LABEL.findall(m.group(2) or "")))
        out[(m.group(1), labels)] = float(m.group(3))
    return out


def val(samples, name, **labels):
    return samples.get((name, tuple(sorted(labels.items()))), 0.0)


def scrape_raw(port, method="GET", path="/metrics"):
    c = http.client.HTTPConnection("127.0.0.1", port, timeout=10)
    try:
        c.request(method, path)
        r = c.getresponse()
        return r.status, dict(r.getheaders()), r.read().decode()
    finally:
        c.close()


def scrape(port):
    st, hd, text = scrape_raw(port)
    assert st == 200, text
    assert hd["Content-Type"].startswith("text/plain; version=0.0.4")
    return text


def promtool_check(text):
    promtool = shutil.which("promtool")
    assert promtool, "promtool is missing (scripts/install-deps installs prometheus)"
    r = subprocess.run([promtool, "check", "metrics"], input=text,
                       capture_output=True, text=True)
    assert r.returncode == 0, r.stdout + r.stderr


def ctl(app, *args, stdin=None):
    r = subprocess.run([os.path.join(BIN, "dromosctl"), "-s", app.admin, *args],
                       capture_output=True, text=True, input=stdin)
    assert r.returncode == 0, f"dromosctl {args}: {r.stderr}"
    return r.stdout


def call(app, method, path, token, body=None):
    h = {"Authorization": f"Bearer {token}"}
    data = None
    if body is not None:
        data = json.dumps(body)
        h["Content-Type"] = "application/json"
    st, _, raw = app.request(method, path, data, h)
    return st, raw


def audit_ops(path):
    """(op, outcome) of every line of the audit log."""
    with open(path) as f:
        return [(e["op"], e.get("outcome")) for e in map(json.loads, f) if e]


def audit_count(path):
    with open(path) as f:
        return sum(1 for line in f if line.strip())


@pytest.fixture(scope="module")
def app(pg):
    admin = psycopg2.connect(pg.dsn())
    admin.autocommit = True
    admin.cursor().execute('DROP DATABASE IF EXISTS "metrics_e2e"')
    admin.cursor().execute('CREATE DATABASE "metrics_e2e"')
    port = free_port()
    a = Appliance(pg.dsn("metrics_e2e"), extra_conf=f'metrics listen "127.0.0.1:{port}"\n')
    a.metrics_port = port
    a.start()
    try:
        for p in ("openai", "stripe"):
            ctl(a, "provider", "add", os.path.join(REPO, "etc", "providers", f"{p}.json"))
        a.writer = ctl(a, "client", "add", "writer", "--scope", "connections:write:acme-*",
                       "--scope", "token:read:acme-*").strip()
        yield a
    finally:
        a.stop()
        shutil.rmtree(a.dir, ignore_errors=True)
        admin.cursor().execute('DROP DATABASE IF EXISTS "metrics_e2e" WITH (FORCE)')
        admin.close()


def token_rows(dsn):
    conn = psycopg2.connect(dsn)
    try:
        cur = conn.cursor()
        cur.execute("SELECT count(*) FROM access_log WHERE operation = 'token'")
        return cur.fetchone()[0]
    finally:
        conn.close()


def test_counters_move_exactly(app):
    tok = app.writer
    rows0 = token_rows(app.dsn)
    lines0 = audit_count(app.audit)
    t0 = scrape(app.metrics_port)
    m0 = parse(t0)
    assert val(m0, "dromos_keyholder_up") == 1

    # Two captures, N reads, and one read of a sealed value moved to
    # another row, which the keyholder refuses (KH_E_BAD_VALUE).
    assert call(app, "POST", "/connections", tok, {
        "provider": "openai", "connection": "acme-victim", "owner": "acme",
        "credentials": {"api_key": OPENAI_KEY}})[0] == 201
    assert call(app, "POST", "/connections", tok, {
        "provider": "stripe", "connection": "acme-thief", "owner": "acme",
        "credentials": {"secret_key": STRIPE_KEY}})[0] == 201
    for _ in range(N_READS):
        assert call(app, "GET", "/token/acme-victim", tok)[0] == 200
    conn = psycopg2.connect(app.dsn)
    conn.autocommit = True
    conn.cursor().execute("UPDATE connections SET secrets = (SELECT secrets FROM "
                          "connections WHERE id = 'acme-victim') WHERE id = 'acme-thief'")
    conn.close()
    st_thief, _ = call(app, "GET", "/token/acme-thief", tok)
    assert st_thief in (403, 500)
    assert call(app, "GET", "/token/acme-none", tok)[0] == 404
    assert call(app, "PUT", "/token/acme-victim", tok)[0] == 405
    assert call(app, "GET", "/no/such/acme-victim/path", tok)[0] == 404
    # The queued access-log rows are in the table before we look.
    wait_for(lambda: token_rows(app.dsn) - rows0 >= N_READS + 1, 5, "access log rows")

    t1 = scrape(app.metrics_port)
    promtool_check(t1)
    m1 = parse(t1)

    def d(name, **labels):
        return val(m1, name, **labels) - val(m0, name, **labels)

    req = "dromos_broker_requests_total"
    assert d(req, server="api", route="/connections", method="POST", code="201") == 2
    assert d(req, server="api", route="/token/{}", method="GET", code="200") == N_READS
    assert d(req, server="api", route="/token/{}", method="GET", code=str(st_thief)) == 1
    assert d(req, server="api", route="/token/{}", method="GET", code="404") == 1
    # A method no row of the path takes, and a path no row matches.
    assert d(req, server="api", route="unmatched", method="any", code="405") == 1
    assert d(req, server="api", route="unmatched", method="any", code="404") == 1
    hist = "dromos_broker_request_duration_seconds_count"
    assert d(hist, server="api", route="/token/{}", method="GET") == N_READS + 2
    assert val(m1, "dromos_broker_requests_in_flight", server="api") == 0

    # The keyholder, against its own audit log over the same interval.
    ops = audit_ops(app.audit)[lines0:]
    seal_ok = sum(1 for o in ops if o == ("SEAL", "ok"))
    open_ok = sum(1 for o in ops if o == ("OPEN", "ok"))
    open_bad = sum(1 for o in ops if o[0] == "OPEN" and o[1] != "ok")
    assert seal_ok >= 2 and open_ok >= N_READS and open_bad == 1
    assert d("dromos_keyholder_seals_total", outcome="ok") == seal_ok
    assert d("dromos_keyholder_opens_total", outcome="ok") == open_ok
    assert d("dromos_keyholder_opens_total", outcome="bad_value") == 1
    assert d("dromos_keyholder_requests_total", type="open") == open_ok + 1
    assert d("dromos_keyholder_requests_total", type="seal") == seal_ok
    # Every audited request wrote a line; the scrape's own KH_METRICS none.
    assert d("dromos_keyholder_audit_lines_total") == len(ops)
    assert d("dromos_keyholder_requests_total", type="metrics") == 1
    assert d("dromos_keyholder_audit_failures_total") == 0
    # The broker's view of the same channel.
    assert d("dromos_broker_keyholder_requests_total", type="open") == open_ok + 1
    assert d("dromos_broker_keyholder_requests_total", type="seal") == seal_ok
    assert d("dromos_broker_keyholder_requests_total", type="metrics") == 1
    assert d("dromos_broker_keyholder_errors_total", kind="bad_value") == 1
    assert d("dromos_broker_keyholder_errors_total", kind="channel") == 0
    # The access log: every read queued and written, none dropped.
    rows = token_rows(app.dsn) - rows0
    assert rows == N_READS + 1
    assert d("dromos_broker_accesslog_rows_total", outcome="written") == rows
    assert d("dromos_broker_accesslog_rows_total", outcome="dropped") == 0
    assert val(m1, "dromos_broker_db_connects_total", outcome="ok") >= 1
    assert val(m1, "dromos_keyholder_start_time_seconds") <= time.time()

    # Nothing that names a connection, a client or a secret.
    for needle in ("acme-victim", "acme-thief", "acme-none", OPENAI_KEY, STRIPE_KEY,
                   tok, tok[:12], "/no/such"):
        assert needle not in t1, needle


def test_refresh_outcomes(app, oauth_peer):  # noqa: F811
    """One forced refresh of each outcome the provider can cause."""
    import requests
    peer = oauth_peer
    clients = {
        "session": ctl(app, "client", "add", "r-sessions", "--scope",
                       "connect:session").strip(),
        "reader": ctl(app, "client", "add", "r-reader", "--scope", "token:read").strip(),
        "refresher": ctl(app, "client", "add", "r-refresher", "--scope", "token:refresh",
                         "--scope", "token:read").strip(),
    }
    http = requests.Session()
    http.trust_env = False
    try:
        pid = oa.add_provider(app, peer)
        conns = [oa.connected(app, clients, http, pid) for _ in range(3)]
    finally:
        http.close()
    m0 = parse(scrape(app.metrics_port))
    calls0 = peer.stats()["refresh_calls"]

    def refresh(conn):
        return call(app, "POST", f"/token/{conn}/refresh", clients["refresher"])[0]
    assert refresh(conns[0]) == 200
    peer.control(invalid_grant=1)
    assert refresh(conns[1]) == 409
    # Every try answered 500: retried, then given up for now.
    peer.control(fail_5xx_count=3)
    assert refresh(conns[2]) == 503
    assert peer.stats()["refresh_calls"] - calls0 == 1 + 1 + 3
    text = scrape(app.metrics_port)
    promtool_check(text)
    m1 = parse(text)
    for outcome, n in (("ok", 1), ("invalid_grant", 1), ("retryable", 1), ("fatal", 0)):
        name = "dromos_broker_oauth_refreshes_total"
        assert val(m1, name, outcome=outcome) - val(m0, name, outcome=outcome) == n, outcome
    for c in conns:
        assert c not in text


def test_rotations_and_checkpoints(pgdb):
    """Automatic key rotations and signed checkpoints, against the log."""
    port = free_port()
    extra = (f'metrics listen "127.0.0.1:{port}"\nkeyring rotate after 2 seals\n'
             'audit checkpoint every 5 lines\n')
    app = Appliance(pgdb, extra_conf=extra)
    try:
        app.start()
        for _ in range(7):
            assert app.request("GET", "/health")[0] == 200
        text = scrape(port)
        promtool_check(text)
        m = parse(text)
        with open(app.audit) as f:
            lines = [json.loads(x) for x in f if x.strip()]
        kvs = [e["kv"] for e in lines if e["op"] == "SEAL" and e["outcome"] == "ok"]
        cps = [e for e in lines if e["op"] == "CHECKPOINT"]
        assert len(kvs) >= 7 and max(kvs) >= 3 and len(cps) >= 3
        assert val(m, "dromos_keyholder_key_rotations_total") == max(kvs) - 1
        assert val(m, "dromos_keyholder_audit_checkpoints_total") == len(cps)
        assert val(m, "dromos_keyholder_audit_lines_total") == len(lines)
        assert val(m, "dromos_keyholder_seals_total", outcome="ok") == len(kvs)
        # Every batch held at least one request, and there were requests.
        nreq = sum(v for (n, _), v in m.items() if n == "dromos_keyholder_requests_total")
        assert 1 <= val(m, "dromos_keyholder_batches_total") <= nreq
        assert val(m, "dromos_keyholder_batch_max") >= 1
    finally:
        app.stop()
        shutil.rmtree(app.dir, ignore_errors=True)


def test_caches_and_change_channel(app):
    """Reads of one connection hit its cache after the first miss; a
    change made in SQL is announced and counted, and forgets the entry."""
    tok = app.writer

    def announced_since(m):
        """Wait until the broker has applied an announcement after m."""
        deadline = time.monotonic() + 5
        while True:
            now = parse(scrape(app.metrics_port))
            if (val(now, "dromos_broker_change_notifications_total")
                    > val(m, "dromos_broker_change_notifications_total")):
                return now
            assert time.monotonic() < deadline, "no change announced"
            time.sleep(0.05)

    before = parse(scrape(app.metrics_port))
    assert call(app, "POST", "/connections", tok, {
        "provider": "openai", "connection": "acme-cached", "owner": "acme",
        "credentials": {"api_key": OPENAI_KEY}})[0] == 201
    # The capture's own announcement first, so it forgets nothing below.
    m0 = announced_since(before)
    assert val(m0, "dromos_broker_change_channel_up") == 1
    for _ in range(5):
        assert call(app, "GET", "/token/acme-cached", tok)[0] == 200
    m1 = parse(scrape(app.metrics_port))

    def delta(m_a, m_b, cache, result):
        return (val(m_b, "dromos_broker_cache_lookups_total", cache=cache, result=result)
                - val(m_a, "dromos_broker_cache_lookups_total", cache=cache, result=result))

    assert delta(m0, m1, "connections", "miss") == 1
    assert delta(m0, m1, "connections", "hit") == 4
    assert delta(m0, m1, "clients", "hit") == 5
    assert delta(m0, m1, "providers", "hit") >= 4
    conn = psycopg2.connect(app.dsn)
    conn.autocommit = True
    conn.cursor().execute("UPDATE connections SET status = 'active' WHERE id = 'acme-cached'")
    conn.close()
    m2 = announced_since(m1)
    assert call(app, "GET", "/token/acme-cached", tok)[0] == 200
    m3 = parse(scrape(app.metrics_port))
    assert delta(m2, m3, "connections", "miss") == 1


def test_listener_refuses_other_requests(app):
    port = app.metrics_port
    st, hd, _ = scrape_raw(port, "POST")
    assert st == 405 and hd.get("Allow") == "GET, HEAD"
    assert scrape_raw(port, "GET", "/")[0] == 404
    assert scrape_raw(port, "GET", "/metrics/x")[0] == 404
    assert scrape_raw(port, "GET", "/metrics?x=1")[0] == 200
    st, _, body = scrape_raw(port, "HEAD")
    assert st == 200 and body == ""
    # A request line of junk is answered or dropped, never served.
    s = socket.create_connection(("127.0.0.1", port), timeout=10)
    s.sendall(b"\x00\x01garbage\r\n\r\n")
    head = s.recv(4096)
    s.close()
    assert not head.startswith(b"HTTP/1.1 200")


def test_idle_clients_block_nothing(app):
    """Scrapers that connect and send nothing hold only the metrics
    listener's few connections, and only for its idle timeout."""
    port = app.metrics_port
    idle = [socket.create_connection(("127.0.0.1", port), timeout=10) for _ in range(12)]
    try:
        t = time.monotonic()
        for _ in range(5):
            assert app.request("GET", "/health")[0] == 200
        assert time.monotonic() - t < 5
    finally:
        for s in idle:
            s.close()
    wait_for(lambda: scrape_raw(port)[0] == 200, 15, "a scrape after the idle ones")


def test_slow_clients_are_cut_off(app):
    """Scrapers that send their request head a byte now and then (never
    idle) are shut down 5 s after they began it, so that they cannot keep
    the listener's eight connections from real scrapes for good."""
    port = app.metrics_port
    slow = []
    for _ in range(8):
        s = socket.create_connection(("127.0.0.1", port), timeout=10)
        s.sendall(b"GET /metrics HTTP/1.1\r\nHost: m\r\n")
        s.settimeout(0.05)
        slow.append(s)
    start = time.monotonic()
    cut = {}
    try:
        while len(cut) < len(slow) and time.monotonic() - start < 12:
            for i, s in enumerate(slow):
                if i in cut:
                    continue
                try:
                    s.sendall(b"X")
                    if s.recv(1024) == b"":
                        cut[i] = time.monotonic() - start
                except TimeoutError:
                    pass
                except OSError:
                    cut[i] = time.monotonic() - start
            time.sleep(0.5)
    finally:
        for s in slow:
            s.close()
    assert len(cut) == len(slow), f"only {len(cut)} of {len(slow)} were cut off"
    assert 4 <= min(cut.values()) and max(cut.values()) < 9, cut
    assert scrape_raw(port)[0] == 200


def test_metrics_listen_refuses_non_loopback(tmp_path):
    key = tmp_path / "root.key"
    subprocess.run([os.path.join(BIN, "dromosctl"), "key", "init", str(key)], check=True)
    base = (f'listen "{tmp_path}/b.sock"\ndatabase "dbname=x"\n'
            f'root key file "{key}"\naudit log "{tmp_path}/audit.log"\n')
    conf = tmp_path / "dromos.conf"

    def check(addr):
        conf.write_text(base + f'metrics listen "{addr}"\n')
        conf.chmod(0o600)
        return subprocess.run([os.path.join(BIN, "dromosd"), "-n", "-f", str(conf)],
                              capture_output=True, text=True)
    for addr in ("0.0.0.0:9101", "10.1.2.3:9101", "[::]:9101", "localhost:9101",
                 "[::ffff:192.0.2.1]:9101"):
        r = check(addr)
        assert r.returncode == 1, (addr, r.stderr)
        assert ":5:" in r.stderr and "loopback" in r.stderr, r.stderr
    for addr in ("127.0.0.1:9101", "[::1]:9101"):
        r = check(addr)
        assert r.returncode == 0, (addr, r.stderr)


def test_database_loss_counted():
    """PostgreSQL restarted: failed connection attempts, then one made again."""
    from conftest import PgCluster
    pg = PgCluster()
    app = None
    try:
        pg.start()
        port = free_port()
        app = Appliance(pg.dsn(), extra_conf=f'metrics listen "127.0.0.1:{port}"\n')
        app.start()
        ctl(app, "provider", "add", os.path.join(REPO, "etc", "providers", "openai.json"))
        tok = ctl(app, "client", "add", "svc", "--scope", "admin").strip()
        assert call(app, "POST", "/connections", tok, {
            "provider": "openai", "connection": "c1", "owner": "o",
            "credentials": {"api_key": OPENAI_KEY}})[0] == 201
        m0 = parse(scrape(port))
        pg.stop_server()
        assert call(app, "GET", "/token/c1", tok)[0] == 503
        pg.start_server()
        wait_for(lambda: call(app, "GET", "/token/c1", tok)[0] == 200, 20, "reconnect")
        text = scrape(port)
        promtool_check(text)
        m1 = parse(text)
        # The idle connection is found gone before any statement, so the
        # broker tries to connect again, fails (counted), and later succeeds.
        assert (val(m1, "dromos_broker_db_connects_total", outcome="failed") -
                val(m0, "dromos_broker_db_connects_total", outcome="failed")) >= 1
        assert (val(m1, "dromos_broker_db_connects_total", outcome="ok") -
                val(m0, "dromos_broker_db_connects_total", outcome="ok")) >= 1
        assert val(m1, "dromos_broker_requests_total", server="api", route="/token/{}",
                   method="GET", code="503") >= 1
    finally:
        if app:
            app.stop()
            shutil.rmtree(app.dir, ignore_errors=True)
        pg.stop()


@pytest.mark.skipif(os.geteuid() != 0, reason="needs root to mount a small tmpfs")
def test_audit_write_failure_counted(pgdb):
    """The audit log on a full filesystem: the keyholder refuses with
    KH_E_AUDIT, and its counters (still served: KH_METRICS is not audited)
    say so."""
    mnt = tempfile.mkdtemp(prefix="dromos-auditfs-")
    subprocess.run(["mount", "-t", "tmpfs", "-o", "size=256k,mode=0755", "tmpfs", mnt],
                   check=True)
    app = None
    try:
        port = free_port()
        app = Appliance(pgdb, extra_conf=f'metrics listen "127.0.0.1:{port}"\n')
        app.audit = os.path.join(mnt, "audit.log")
        app.write_conf(pgdb, f'metrics listen "127.0.0.1:{port}"\n')
        app.start()
        m0 = parse(scrape(port))
        assert val(m0, "dromos_keyholder_audit_failures_total") == 0
        # Fill the filesystem to the last byte.
        fd = os.open(os.path.join(mnt, "filler"), os.O_WRONLY | os.O_CREAT, 0o600)
        try:
            for chunk in (65536, 4096, 1):
                try:
                    while os.write(fd, b"\0" * chunk) > 0:
                        pass
                except OSError:
                    pass
        finally:
            os.close(fd)
        # The audit log's last page may still take a line or two.
        refused = 0
        for _ in range(50):
            st, _, _ = app.request("GET", "/health")
            if st != 200:
                refused += 1
                break
        assert refused == 1
        # Once broken, the writer stays broken: every SEAL is refused.
        for _ in range(2):
            assert app.request("GET", "/health")[0] == 503
        text = scrape(port)
        promtool_check(text)
        m1 = parse(text)
        assert val(m1, "dromos_keyholder_up") == 1
        assert val(m1, "dromos_keyholder_audit_failures_total") == 3
        assert val(m1, "dromos_keyholder_seals_total", outcome="audit") == 3
        assert val(m1, "dromos_broker_keyholder_errors_total", kind="audit") == 3
        assert app.proc.poll() is None
    finally:
        if app:
            app.stop()
            shutil.rmtree(app.dir, ignore_errors=True)
        subprocess.run(["umount", mnt], check=False)
        os.rmdir(mnt)


def test_access_log_keep_prunes_old_rows(pgdb):
    """"access log keep N days": the broker deletes older rows of
    access_log when it starts (and every ten minutes), counts them, and
    keeps the younger ones."""
    port = free_port()
    app = Appliance(pgdb, extra_conf=f'metrics listen "127.0.0.1:{port}"\n')
    try:
        app.start()     # the schema
        app.stop()
        db = psycopg2.connect(pgdb)
        db.autocommit = True
        cur = db.cursor()
        cur.execute("INSERT INTO access_log (at, operation, outcome)"
                    " SELECT now() - interval '40 days', 'token', 'ok'"
                    " FROM generate_series(1, 120)")
        cur.execute("INSERT INTO access_log (at, operation, outcome)"
                    " SELECT now() - interval '29 days', 'token', 'ok'"
                    " FROM generate_series(1, 7)")
        app.write_conf(pgdb, f'metrics listen "127.0.0.1:{port}"\n'
                             "access log keep 30 days\n")
        app.start()

        # Counted once the delete is done.
        wait_for(lambda: val(parse(scrape(port)), "dromos_broker_accesslog_rows_total",
                             outcome="pruned") == 120, 10, "the old rows deleted")
        promtool_check(scrape(port))
        cur.execute("SELECT count(*) FROM access_log"
                    " WHERE at < now() - interval '30 days'")
        assert cur.fetchone()[0] == 0
        cur.execute("SELECT count(*) FROM access_log"
                    " WHERE at < now() - interval '28 days'")
        assert cur.fetchone()[0] == 7
        assert "access_log: 120 rows older than 30 days deleted" in app.logtext()
        db.close()
    finally:
        app.stop()
        shutil.rmtree(app.dir, ignore_errors=True)
