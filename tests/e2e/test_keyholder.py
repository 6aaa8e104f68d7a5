"""dromosd and dromos-broker as real processes: privilege separation,
sandboxing, the audit chain, and a keyholder that refuses a hostile broker."""
import json
import os
import re
import shutil
import signal
import subprocess
import tempfile

import pytest

from dromos import BIN, Appliance, is_root, proc_status, started_appliance, wait_for

root_only = pytest.mark.skipif(not is_root(), reason="needs root to drop privileges")
PEERS = os.path.join(os.path.dirname(__file__), "peers")


def ctl(*args, check=True):
    return subprocess.run([os.path.join(BIN, "dromosctl"), *args], check=check,
                          capture_output=True, text=True)


@pytest.fixture
def app(pgdb):
    with started_appliance(pgdb) as a:
        yield a


def audit_lines(path):
    with open(path) as f:
        return [json.loads(line) for line in f if line.strip()]


def test_health_round_trips_seal_and_open(app):
    st, body = app.json("GET", "/health")
    assert st == 200
    assert body["status"] == "ok" and body["keyholder"] == "ok"
    ops = [e["op"] for e in audit_lines(app.audit)]
    assert "SEAL" in ops and "OPEN" in ops


def test_audit_log_verifies_offline(app):
    for _ in range(5):
        assert app.json("GET", "/health")[0] == 200
    assert app.stop() == 0
    pub = ctl("audit", "pubkey", "-k", app.key).stdout.strip()
    assert re.fullmatch(r"[0-9a-f]{64}", pub), pub
    r = ctl("audit", "verify", app.audit, "--pubkey", pub, check=False)
    assert r.returncode == 0, r.stderr
    lines = audit_lines(app.audit)
    assert lines[-1]["op"] == "CHECKPOINT"
    # An edited line is found and named.
    with open(app.audit) as f:
        text = f.readlines()
    k = next(i for i, line in enumerate(text) if '"op":"OPEN"' in line)
    text[k] = text[k].replace('"op":"OPEN"', '"op":"SEAL"')
    with open(app.audit, "w") as f:
        f.writelines(text)
    r = ctl("audit", "verify", app.audit, "--pubkey", pub, check=False)
    assert r.returncode == 1
    assert f"line {k + 1}" in r.stderr


def test_sighup_is_not_a_stop(app):
    # A log rotation's SIGHUP must not take the appliance down; with the
    # log not moved away, it changes nothing (test_audit_rotate.py).
    os.kill(app.proc.pid, signal.SIGHUP)
    wait_for(lambda: "was not moved: still writing to it" in app.logtext(), 5,
             "the SIGHUP logged")
    assert app.proc.poll() is None, app.logtext()
    st, body = app.json("GET", "/health")
    assert st == 200 and body["keyholder"] == "ok"
    # The audit chain goes on in the same file and still verifies.
    assert app.stop() == 0
    pub = ctl("audit", "pubkey", "-k", app.key).stdout.strip()
    r = ctl("audit", "verify", app.audit, "--pubkey", pub, check=False)
    assert r.returncode == 0, r.stderr


def test_broker_death_ends_keyholder(app):
    pid = app.broker_pid()
    assert pid
    os.kill(pid, signal.SIGKILL)
    assert app.wait_exit(10) != 0
    assert "broker killed by signal 9" in app.logtext()


def test_keyholder_death_ends_broker(app):
    pid = app.broker_pid()
    os.kill(app.proc.pid, signal.SIGKILL)
    app.proc.wait()
    wait_for(lambda: not os.path.exists(f"/proc/{pid}") or
             proc_status(pid).get("State", "").startswith("Z"), 10, "broker exit")


@root_only
def test_processes_are_sandboxed(app):
    kh, br = app.proc.pid, app.broker_pid()
    for pid, user in ((kh, "_dromoskey"), (br, "_dromos")):
        st = proc_status(pid)
        assert st["Seccomp"] == "2", (user, st["Seccomp"])
        assert st["CapEff"] == "0000000000000000"
        assert st["CapPrm"] == "0000000000000000"
        assert st["NoNewPrivs"] == "1"
        uid = int(st["Uid"].split()[0])
        assert __import__("pwd").getpwuid(uid).pw_name == user
        with open(f"/proc/{pid}/limits") as f:
            core = [line for line in f if line.startswith("Max core file size")][0]
        assert core.split()[4] == "0", core


@root_only
def test_broker_user_cannot_read_root_key(app):
    r = subprocess.run(["runuser", "-u", "_dromos", "--", "cat", app.key],
                       capture_output=True)
    assert r.returncode != 0
    assert os.stat(app.key).st_mode & 0o077 == 0


def _readable_regions(pid):
    with open(f"/proc/{pid}/maps") as f:
        for line in f:
            parts = line.split()
            lo, hi = (int(x, 16) for x in parts[0].split("-"))
            if "r" in parts[1] and not (len(parts) > 5 and parts[5] in ("[vvar]", "[vsyscall]")):
                yield lo, hi


def _memory_contains(pid, needles):
    found = set()
    with open(f"/proc/{pid}/mem", "rb", 0) as mem:
        for lo, hi in _readable_regions(pid):
            try:
                mem.seek(lo)
                chunk = mem.read(hi - lo)
            except (OSError, ValueError):
                continue
            for name, n in needles.items():
                if n in chunk:
                    found.add(name)
    return found


@root_only
def test_no_key_in_broker_memory(app):
    for _ in range(3):
        assert app.json("GET", "/health")[0] == 200
    with open(app.key, "rb") as f:
        raw = f.read().strip()
    key = bytes.fromhex(raw.decode()) if len(raw) == 64 else raw
    needles = {"root key": key, "root key (hex)": key.hex().encode()}
    needles.update({f"data key {i}": k for i, k in enumerate(app.data_keys())})
    assert len(needles) >= 3
    assert _memory_contains(app.broker_pid(), needles) == set()
    # The scan itself can see a planted needle (it is able to fail).
    planted = os.urandom(16).hex().encode()
    assert "x" in _memory_contains(os.getpid(), {"x": planted})


def _report(path):
    """What the hostile broker saw, once it has written all of it."""
    try:
        with open(path) as f:
            text = f.read()
    except FileNotFoundError:
        return None
    return text if text.endswith("\n") else None


HOSTILE_CASES = ["unknown_type", "short_seal", "long_health", "long_metrics",
                 "header_below_size", "header_above_max", "fdbit_without_fd",
                 "string_overrun", "nul_in_string", "leftover_bytes",
                 "bad_field_chars", "open_garbage_len"]


@pytest.mark.parametrize("case", HOSTILE_CASES)
def test_hostile_broker_is_refused(pgdb, case):
    tmp = tempfile.mkdtemp(prefix="dromos-hostile-")
    os.chmod(tmp, 0o755)
    script = os.path.join(tmp, "hostile_broker.py")
    shutil.copy(os.path.join(PEERS, "hostile_broker.py"), script)
    os.chmod(script, 0o755)
    with open(script + ".case", "w") as f:
        f.write(case)
    a = Appliance(pgdb, broker=script, tmp=tmp)
    try:
        a.start(wait=False)
        rc = a.wait_exit(15)
        assert rc != 0
        log = a.logtext()
        assert "refused" in log, log
        lines = audit_lines(a.audit)
        refusals = [e for e in lines if e["op"] == "REFUSE"]
        assert refusals, lines
        assert lines[-1]["op"] == "CHECKPOINT"
        # dromosd does not wait for its broker when it refuses one: the
        # script may still be writing what it saw.
        seen = wait_for(lambda: _report(script + ".out"), 10, "the hostile broker's report")
        # The keyholder hung up without answering the bad request.
        assert "answer" not in seen, seen
        for path in (a.audit, a.log):
            with open(path, "rb") as f:
                assert b"PLANTED-PLAINTEXT" not in f.read()
    finally:
        a.stop()
        shutil.rmtree(tmp, ignore_errors=True)


def test_config_check(tmp_path):
    conf = tmp_path / "dromos.conf"
    conf.write_text('listen "/tmp/x.sock"\nlisen "y"\n')
    conf.chmod(0o600)
    r = subprocess.run([os.path.join(BIN, "dromosd"), "-n", "-f", str(conf)],
                       capture_output=True, text=True)
    assert r.returncode == 1
    assert ":2:" in r.stderr and "lisen" in r.stderr
    conf.chmod(0o644)
    r = subprocess.run([os.path.join(BIN, "dromosd"), "-n", "-f", str(conf)],
                       capture_output=True, text=True)
    assert r.returncode == 1
    assert "readable" in r.stderr or "mode" in r.stderr or "permission" in r.stderr
