"""`dromosctl key seal-tpm` against a real swtpm.

The command seals a root key in the TPM, proves the blob unseals again, and
only then writes it to a new 0400 file.  These tests check what an operator
sees: the file, its mode and header, refusals that leave nothing behind,
and that no key byte is ever printed.  Unsealing itself is covered by the
unit tests (tests/priv/test_tpm.c) and by dromosd's "root key tpm" tests.

`Swtpm` starts one emulator on free ports for the module and always stops
it; other end-to-end tests may borrow it.
"""
import os
import shutil
import signal
import socket
import stat
import struct
import subprocess
import tempfile
import time

import pytest

REPO = os.path.abspath(os.path.join(os.path.dirname(__file__), "..", ".."))
BUILD = os.environ.get("DROMOS_BUILD", os.path.join(REPO, "build"))
DROMOSCTL = os.path.join(BUILD, "bin", "dromosctl")
SWTPM = os.environ.get("DROMOS_SWTPM") or shutil.which("swtpm")

ALG_SHA256 = 0x000B


def _port_pair():
    """A port P with P+1 also free just now (server and control)."""
    for _ in range(50):
        a = socket.socket()
        a.bind(("127.0.0.1", 0))
        port = a.getsockname()[1]
        b = socket.socket()
        try:
            if port < 65535:
                b.bind(("127.0.0.1", port + 1))
                return port
        except OSError:
            pass
        finally:
            a.close()
            b.close()
    raise RuntimeError("no free port pair")


def _accepts(port):
    try:
        with socket.create_connection(("127.0.0.1", port), timeout=0.2):
            return True
    except OSError:
        return False


class Swtpm:
    """A swtpm process with its state in a private directory."""

    def __init__(self):
        self.dir = tempfile.mkdtemp(prefix="dromos-swtpm-")
        self.proc = None
        self.port = None

    @property
    def tcti(self):
        return f"swtpm:host=127.0.0.1,port={self.port}"

    def start(self):
        for _ in range(5):
            port = _port_pair()
            self.proc = subprocess.Popen(
                [SWTPM, "socket", "--tpm2",
                 "--server", f"type=tcp,port={port},bindaddr=127.0.0.1",
                 "--ctrl", f"type=tcp,port={port + 1},bindaddr=127.0.0.1",
                 "--tpmstate", f"dir={self.dir}",
                 "--log", f"file={self.dir}/swtpm.log",
                 "--flags", "not-need-init,startup-clear"],
                stdin=subprocess.DEVNULL, stdout=subprocess.DEVNULL,
                stderr=subprocess.DEVNULL)
            end = time.monotonic() + 5
            while time.monotonic() < end and self.proc.poll() is None:
                if _accepts(port + 1) and _accepts(port):
                    self.port = port
                    return
                time.sleep(0.02)
            self.stop_process()
        raise RuntimeError(f"swtpm did not start (see {self.dir}/swtpm.log)")

    def stop_process(self):
        if self.proc is not None and self.proc.poll() is None:
            self.proc.send_signal(signal.SIGTERM)
            try:
                self.proc.wait(timeout=3)
            except subprocess.TimeoutExpired:
                self.proc.kill()
                self.proc.wait()
        self.proc = None

    def stop(self):
        self.stop_process()
        shutil.rmtree(self.dir, ignore_errors=True)


@pytest.fixture(scope="module")
def swtpm():
    if SWTPM is None or not os.access(SWTPM, os.X_OK):
        pytest.skip("swtpm not installed")
    if not os.access(DROMOSCTL, os.X_OK):
        pytest.skip(f"{DROMOSCTL} not built")
    t = Swtpm()
    try:
        t.start()
        yield t
    finally:
        t.stop()


def ctl(*args, umask=None):
    def pre():
        if umask is not None:
            os.umask(umask)
    return subprocess.run([DROMOSCTL, *args], capture_output=True, text=True,
                          timeout=60, preexec_fn=pre)


def header(path):
    with open(path, "rb") as f:
        data = f.read()
    magic, version, parent, bank, mask = struct.unpack(">4sBBHI", data[:12])
    return data, magic, version, parent, bank, mask


def test_seal_new_key(swtpm, tmp_path):
    out = tmp_path / "root.tpm"
    r = ctl("key", "seal-tpm", str(out), "--tcti", swtpm.tcti,
            "--pcrs", "sha256:0,7")
    assert r.returncode == 0, r.stderr
    assert "a new root key" in r.stdout and "sha256:0,7" in r.stdout
    st = os.lstat(out)
    assert stat.S_ISREG(st.st_mode)
    assert stat.S_IMODE(st.st_mode) == 0o400
    assert st.st_uid == os.geteuid()
    data, magic, version, parent, bank, mask = header(out)
    assert (magic, version, parent) == (b"DRTK", 1, 1)
    assert (bank, mask) == (ALG_SHA256, 0x81)
    assert 12 < len(data) <= 4096


def test_seal_key_file_never_printed(swtpm, tmp_path):
    """-k seals an existing key; its bytes appear in no output."""
    keyfile = tmp_path / "root.key"
    r = ctl("key", "init", str(keyfile))
    assert r.returncode == 0, r.stderr
    hexkey = keyfile.read_text().strip().lower()
    assert len(hexkey) == 64
    out = tmp_path / "root.tpm"
    r = ctl("key", "seal-tpm", "-k", str(keyfile), "-T", swtpm.tcti,
            "-p", "sha256:16", "-o", str(out))
    assert r.returncode == 0, r.stderr
    assert "the root key" in r.stdout
    _, _, _, _, bank, mask = header(out)
    assert (bank, mask) == (ALG_SHA256, 1 << 16)
    raw = bytes.fromhex(hexkey)
    for text in (r.stdout, r.stderr):
        assert hexkey not in text.lower()
        assert raw.hex().upper() not in text
    with open(out, "rb") as f:
        assert raw not in f.read()


def test_no_policy_and_umask(swtpm, tmp_path):
    """Mode 0400 whatever the umask; no --pcrs means no policy."""
    out = tmp_path / "root.tpm"
    r = ctl("key", "seal-tpm", "--tcti", swtpm.tcti, str(out), umask=0o777)
    assert r.returncode == 0, r.stderr
    assert stat.S_IMODE(os.lstat(out).st_mode) == 0o400
    _, _, _, _, bank, mask = header(out)
    assert (bank, mask) == (0x0010, 0)
    assert "PCR policy none" in r.stdout


def test_never_replaces(swtpm, tmp_path):
    out = tmp_path / "root.tpm"
    out.write_bytes(b"precious")
    r = ctl("key", "seal-tpm", str(out), "--tcti", swtpm.tcti)
    assert r.returncode != 0
    assert "exists" in r.stderr
    assert out.read_bytes() == b"precious"
    link = tmp_path / "link.tpm"
    os.symlink(tmp_path / "elsewhere", link)
    r = ctl("key", "seal-tpm", str(link), "--tcti", swtpm.tcti)
    assert r.returncode != 0
    assert not (tmp_path / "elsewhere").exists()


@pytest.mark.parametrize("args", [
    [],
    ["--pcrs", "sha256:24", "OUT"],
    ["--pcrs", "sha1:0", "OUT"],
    ["--pcrs", "sha256:0,0", "OUT"],
    ["OUT", "OTHER"],
    ["-o", "OUT", "OTHER"],
    ["--bogus", "OUT"],
])
def test_usage(swtpm, tmp_path, args):
    args = [str(tmp_path / a) if a in ("OUT", "OTHER") else a for a in args]
    r = ctl("key", "seal-tpm", "--tcti", swtpm.tcti, *args)
    assert r.returncode == 1
    assert "usage:" in r.stderr
    assert os.listdir(tmp_path) == []


def test_unreachable_tpm(swtpm, tmp_path):
    out = tmp_path / "root.tpm"
    r = ctl("key", "seal-tpm", str(out),
            "--tcti", f"swtpm:host=127.0.0.1,port={_port_pair()}")
    assert r.returncode == 1
    assert "cannot talk to the TPM" in r.stderr
    assert not out.exists()
    r = ctl("key", "seal-tpm", str(out), "--tcti", "/tmp/evil.so")
    assert r.returncode == 1
    assert "bad TCTI" in r.stderr
    assert not out.exists()
