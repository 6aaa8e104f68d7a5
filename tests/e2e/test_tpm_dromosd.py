"""dromosd with its root key sealed in a TPM: `root key tpm "BLOB" tcti ...`.

Each test gets its own swtpm (PCR values are part of what is tested), seals
a root key with `dromosctl key seal-tpm`, and starts the real dromosd and
dromos-broker on a configuration that names only the blob.  The checks:
the keyholder unseals the key and the broker's /health round-trips SEAL
and OPEN; after a restart the key is the same one (the audit chain is
resumed, which dromosd allows only under the key that signed it, and the
log verifies offline with the public key of the key that was sealed); a
PCR that changed since sealing, or a blob others can read, stops dromosd
at once with a message that says why, before the broker exists.
"""
import json
import os
import re
import shutil
import socket
import subprocess
import tempfile

import pytest

from dromos import BIN, Appliance, is_root
from swtpm import Swtpm, have_swtpm

DROMOSCTL = os.path.join(BIN, "dromosctl")
TPM2_PCREXTEND = shutil.which("tpm2_pcrextend")
TPM2_PCRRESET = shutil.which("tpm2_pcrreset")
PCR = 16		# the debug PCR: extendable and resettable at locality 0

root_only = pytest.mark.skipif(not is_root(), reason="needs root to chown")


@pytest.fixture
def swtpm():
    """A fresh emulator for one test, always stopped and removed."""
    if not have_swtpm():
        pytest.skip("swtpm not installed")
    t = Swtpm()
    try:
        t.start()
        yield t
    finally:
        t.stop()


@pytest.fixture
def work():
    """A private directory for the appliance, the blob and any key file."""
    d = tempfile.mkdtemp(prefix="dromos-tpm-e2e-")
    try:
        os.chmod(d, 0o755)	# the broker (another user as root) needs run/
        yield d
    finally:
        shutil.rmtree(d, ignore_errors=True)


def ctl(*args):
    return subprocess.run([DROMOSCTL, *args], capture_output=True, text=True,
                          timeout=60)


def seal(tpm, blob, *args):
    r = ctl("key", "seal-tpm", "--tcti", tpm.tcti, *args, blob)
    assert r.returncode == 0, r.stderr
    assert os.stat(blob).st_mode & 0o777 == 0o400
    return r


def tpm_appliance(pgdb, work, tpm, blob, keyfile=None):
    """An Appliance whose configuration has `root key tpm` and no key file.

    keyfile, when given, is the key that was sealed: the harness reads it
    to open what the broker stores, dromosd never does.  Without one we
    name a file that does not exist, so the harness makes none either.
    """
    a = Appliance(pgdb, tmp=work,
                  rootkey=keyfile or os.path.join(work, "no-such-key"),
                  extra_conf=f'root key tpm "{blob}" tcti "{tpm.tcti}"\n')
    with open(a.conf) as f:
        conf = f.read()
    assert re.search(r'^root key tpm "[^"]+" tcti "swtpm:host=127\.0\.0\.1,'
                     r'port=\d+"$', conf, re.M), conf
    assert "root key file" not in conf
    return a


def audit_lines(path):
    if not os.path.exists(path):
        return []
    with open(path) as f:
        return [json.loads(line) for line in f if line.strip()]


def run_once(app):
    """Start, check health, stop cleanly; the log text of this run."""
    off = len(app.logtext())
    app.start()
    try:
        st, body = app.json("GET", "/health")
        assert st == 200, body
        assert body["status"] == "ok" and body["keyholder"] == "ok", body
    finally:
        rc = app.stop()
    log = app.logtext()[off:]
    assert rc == 0, log
    return log


def listening(path):
    s = socket.socket(socket.AF_UNIX, socket.SOCK_STREAM)
    try:
        s.connect(path)
        return True
    except OSError:
        return False
    finally:
        s.close()


def start_refused(app):
    """Start dromosd, which must exit non-zero within seconds having started
    nothing and written no audit line; the log text of this attempt."""
    off = len(app.logtext())
    audit_before = audit_lines(app.audit)
    app.start(wait=False)
    try:
        rc = app.wait_exit(10)
    finally:
        app.stop()
    log = app.logtext()[off:]
    assert rc != 0, log
    assert "keyholder started" not in log, log
    assert not listening(app.sock)
    assert audit_lines(app.audit) == audit_before
    return log


def stored_keyring(app):
    """The data keys in the keyring the broker stored in PostgreSQL, opened
    with the sealed key; None while the broker stores no keyring."""
    import psycopg2.errors
    try:
        return app.data_keys()
    except psycopg2.errors.UndefinedTable:
        return None


def test_fresh_key_unseals_across_restart(pgdb, work, swtpm):
    blob = os.path.join(work, "root.tpm")
    r = seal(swtpm, blob)
    assert "a new root key" in r.stdout
    app = tpm_appliance(pgdb, work, swtpm, blob)
    log1 = run_once(app)
    ops = [e["op"] for e in audit_lines(app.audit)]
    assert "SEAL" in ops and "OPEN" in ops, ops
    assert "continuing the chain" not in log1, log1
    n1 = len(ops)

    log2 = run_once(app)
    # dromosd continues an audit chain only after verifying its tail with
    # the signing key derived from the root key it holds now.
    assert f"audit: continuing the chain at seq {n1}" in log2, log2
    lines = audit_lines(app.audit)
    assert [e["seq"] for e in lines] == list(range(1, len(lines) + 1))
    assert [e["op"] for e in lines].count("START") == 2
    assert len(lines) > n1 and lines[-1]["op"] == "CHECKPOINT"


def test_sealed_key_file_is_the_key_after_restart(pgdb, work, swtpm):
    """-k moves a key file into the TPM; dromosd then uses that very key."""
    offline = os.path.join(work, "offline")
    os.mkdir(offline, 0o700)
    keyfile = os.path.join(offline, "root.key")
    assert ctl("key", "init", keyfile).returncode == 0
    other = os.path.join(offline, "other.key")
    assert ctl("key", "init", other).returncode == 0
    pub = ctl("audit", "pubkey", "-k", keyfile).stdout.strip()
    wrong = ctl("audit", "pubkey", "-k", other).stdout.strip()
    assert re.fullmatch(r"[0-9a-f]{64}", pub) and pub != wrong

    blob = os.path.join(work, "root.tpm")
    r = seal(swtpm, blob, "-k", keyfile)
    assert "the root key" in r.stdout
    app = tpm_appliance(pgdb, work, swtpm, blob, keyfile=keyfile)

    run_once(app)
    ring1 = stored_keyring(app)
    run_once(app)
    ring2 = stored_keyring(app)

    lines = audit_lines(app.audit)
    starts = [i for i, e in enumerate(lines) if e["op"] == "START"]
    assert len(starts) == 2, lines
    # Each run signed at least one checkpoint: the two runs' signatures
    # verify with the one public key of the sealed key file ...
    assert any(e["op"] == "CHECKPOINT" for e in lines[:starts[1]])
    assert lines[-1]["op"] == "CHECKPOINT"
    v = ctl("audit", "verify", app.audit, "--pubkey", pub)
    assert v.returncode == 0, v.stderr
    # ... and not with another key's (the check is able to fail).
    v = ctl("audit", "verify", app.audit, "--pubkey", wrong)
    assert v.returncode != 0
    # Once the broker keeps its keyring in PostgreSQL: the first run's
    # ring, opened with the key file, is still there after the second.
    assert (ring1 is None) == (ring2 is None)
    if ring1 is not None:
        assert ring1 and ring2[:len(ring1)] == ring1


@pytest.mark.skipif(TPM2_PCREXTEND is None or TPM2_PCRRESET is None,
                    reason="tpm2-tools not installed")
def test_changed_pcr_refuses_start(pgdb, work, swtpm):
    blob = os.path.join(work, "root.tpm")
    r = seal(swtpm, blob, "--pcrs", f"sha256:{PCR}")
    assert f"sha256:{PCR}" in r.stdout
    app = tpm_appliance(pgdb, work, swtpm, blob)
    run_once(app)

    digest = os.urandom(32).hex()
    subprocess.run([TPM2_PCREXTEND, "-T", swtpm.tcti, f"{PCR}:sha256={digest}"],
                   check=True, capture_output=True, timeout=30)
    log = start_refused(app)
    assert f"cannot unseal the root key from {blob}" in log, log
    assert "PCR policy does not match" in log, log
    assert "changed since the key was sealed" in log, log

    # The PCR, and nothing else, was the cause: back at its sealing-time
    # value (zero after reset) the same blob opens again.
    subprocess.run([TPM2_PCRRESET, "-T", swtpm.tcti, str(PCR)],
                   check=True, capture_output=True, timeout=30)
    log = run_once(app)
    assert "continuing the chain" in log, log


@pytest.mark.parametrize("mode", [0o440, 0o404, 0o640], ids=lambda m: f"{m:04o}")
def test_readable_blob_refused(pgdb, work, swtpm, mode):
    blob = os.path.join(work, "root.tpm")
    seal(swtpm, blob)
    os.chmod(blob, mode)
    app = tpm_appliance(pgdb, work, swtpm, blob)
    log = start_refused(app)
    assert f"{blob}: mode {mode:04o} lets group or others in" in log, log
    assert "cannot unseal" not in log, log	# refused before the TPM
    os.chmod(blob, 0o400)
    run_once(app)


@root_only
def test_blob_of_another_user_refused(pgdb, work, swtpm):
    blob = os.path.join(work, "root.tpm")
    seal(swtpm, blob)
    os.chown(blob, 65534, 65534)
    app = tpm_appliance(pgdb, work, swtpm, blob)
    log = start_refused(app)
    assert f"{blob}: owned by uid 65534, not by root" in log, log


def test_symlinked_blob_refused(pgdb, work, swtpm):
    real = os.path.join(work, "real.tpm")
    seal(swtpm, real)
    blob = os.path.join(work, "root.tpm")
    os.symlink(real, blob)
    app = tpm_appliance(pgdb, work, swtpm, blob)
    log = start_refused(app)
    assert f"{blob}: Too many levels of symbolic links" in log, log
