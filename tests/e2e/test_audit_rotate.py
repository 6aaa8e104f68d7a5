"""Rotating dromosd's audit log while it runs: the log is moved away, a
SIGHUP makes the keyholder (sandboxed: seccomp and Landlock) create a new
one in its directory, and the chain goes on there.  Nothing is lost when
the rotation cannot happen."""
import json
import os
import pwd
import re
import shutil
import signal
import subprocess
import urllib.request

import pytest

from dromos import BIN, Appliance, is_root, proc_status, wait_for
from gateway import free_port

KEYHOLDER = "_dromoskey"


def ctl(*args):
    return subprocess.run([os.path.join(BIN, "dromosctl"), *args],
                          capture_output=True, text=True)


def lines(path):
    with open(path) as f:
        return f.readlines()


@pytest.fixture
def make_app(pgdb):
    """An appliance whose audit log lives in a directory of its own, owned
    by the keyholder's user (writable) or by root (not, when writable is
    False and we are root)."""
    made = []

    def make(writable=True):
        a = Appliance(pgdb)
        d = os.path.join(a.dir, "audit")
        os.mkdir(d, 0o700)
        if is_root() and writable:
            pw = pwd.getpwnam(KEYHOLDER)
            os.chown(d, pw.pw_uid, pw.pw_gid)
        a.audit = os.path.join(d, "audit.log")
        a.metrics_port = free_port()
        a.write_conf(pgdb, f'metrics listen "127.0.0.1:{a.metrics_port}"\n')
        made.append(a)
        return a.start()

    yield make
    for a in made:
        a.stop()
        shutil.rmtree(a.dir, ignore_errors=True)


def reopens(app):
    """dromos_keyholder_audit_reopens_total: (ok, failed)."""
    with urllib.request.urlopen(f"http://127.0.0.1:{app.metrics_port}/metrics",
                                timeout=10) as r:
        text = r.read().decode()
    n = {}
    for outcome in ("ok", "failed"):
        m = re.search(r'^dromos_keyholder_audit_reopens_total\{outcome="%s"\} (\d+)$'
                      % outcome, text, re.M)
        n[outcome] = int(m.group(1))
    return n["ok"], n["failed"]


def health(app, n):
    for _ in range(n):
        st, body = app.json("GET", "/health")
        assert st == 200 and body["keyholder"] == "ok"


def rotate(app, moved, seen):
    """mv audit.log moved; SIGHUP; wait for the log line (the seen-th)."""
    os.rename(app.audit, moved)
    os.kill(app.proc.pid, signal.SIGHUP)
    wait_for(lambda: app.logtext().count("reopened: the chain goes on") >= seen,
             10, "the rotation logged")


def verify(app, *paths):
    pub = ctl("audit", "pubkey", "-k", app.key).stdout.strip()
    return ctl("audit", "verify", "-p", pub, *paths)


def test_rotation_continues_the_chain(make_app):
    app = make_app()
    health(app, 3)
    one, two = app.audit + ".1", app.audit + ".2"
    rotate(app, one, 1)
    health(app, 3)
    assert os.path.exists(app.audit)
    # The old file ends with a checkpoint that the new one begins with.
    old, new = lines(one), lines(app.audit)
    assert '"op":"CHECKPOINT"' in old[-1]
    assert new[0] == old[-1]
    assert json.loads(new[1])["seq"] == json.loads(old[-1])["seq"] + 1
    assert '"purpose":"health"' in "".join(new[1:])
    st = os.stat(app.audit)
    assert st.st_mode & 0o777 == 0o600
    if is_root():
        assert pwd.getpwuid(st.st_uid).pw_name == KEYHOLDER
    # The keyholder stays sandboxed, and a second rotation works the same.
    status = proc_status(app.proc.pid)
    assert status["Seccomp"] == "2" and status["NoNewPrivs"] == "1"
    rotate(app, two, 2)
    health(app, 2)
    assert reopens(app) == (2, 0)
    assert app.stop() == 0

    r = verify(app, one, two, app.audit)
    assert r.returncode == 0, r.stderr
    # Each file alone verifies too; the later ones say where they start,
    # and that what came before them was not shown (exit 2).
    assert verify(app, one).returncode == 0
    for p in (two, app.audit):
        r = verify(app, p)
        assert r.returncode == 2 and "verified; continues seq" in r.stdout, (p, r)
    # A file left out, or the order changed, breaks the link.
    r = verify(app, one, app.audit)
    assert r.returncode == 1 and "does not continue" in r.stderr
    r = verify(app, two, one)
    assert r.returncode == 1 and "does not continue" in r.stderr

    # A restart continues the rotated file's chain (its owner is the
    # keyholder's user, which dromosd accepts).
    app.start()
    health(app, 2)
    assert app.stop() == 0
    r = verify(app, one, two, app.audit)
    assert r.returncode == 0, r.stderr


def test_sighup_without_a_move_changes_nothing(make_app):
    app = make_app()
    health(app, 2)
    before = len(lines(app.audit))
    os.kill(app.proc.pid, signal.SIGHUP)
    wait_for(lambda: "was not moved: still writing to it" in app.logtext(), 10,
             "the SIGHUP logged")
    health(app, 2)
    assert app.proc.poll() is None
    assert reopens(app) == (0, 0)
    # No checkpoint was forced, and the lines went on in the same file.
    assert len(lines(app.audit)) > before
    assert os.listdir(os.path.dirname(app.audit)) == ["audit.log"]
    assert app.stop() == 0
    assert verify(app, app.audit).returncode == 0


@pytest.mark.skipif(not is_root(), reason="a directory the keyholder cannot write "
                    "needs another owner than the one running the test")
def test_rotation_refused_loses_nothing(make_app):
    app = make_app(writable=False)
    health(app, 2)
    moved = app.audit + ".1"
    os.rename(app.audit, moved)
    os.kill(app.proc.pid, signal.SIGHUP)
    wait_for(lambda: "cannot create a new audit log" in app.logtext(), 10,
             "the refusal logged")
    assert "Permission denied" in app.logtext()
    # Still serving, and still writing: to the moved file.
    n = len(lines(moved))
    health(app, 3)
    assert len(lines(moved)) > n
    assert not os.path.exists(app.audit)
    assert reopens(app) == (0, 1)
    assert app.stop() == 0
    r = verify(app, moved)
    assert r.returncode == 0, r.stderr
