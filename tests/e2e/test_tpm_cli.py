"""`dromosctl key seal-tpm` against a real swtpm.

The command seals a root key in the TPM, proves the blob unseals again, and
only then writes it to a new 0400 file.  These tests check what an operator
sees: the file, its mode and header, refusals that leave nothing behind,
and that no key byte is ever printed.  Unsealing itself is covered by the
unit tests (tests/priv/test_tpm.c) and by dromosd's "root key tpm" tests.

The module's emulator (swtpm.py) runs on free ports and is always stopped.
"""
import os
import stat
import struct
import subprocess

import pytest

from swtpm import Swtpm, have_swtpm, port_pair

REPO = os.path.abspath(os.path.join(os.path.dirname(__file__), "..", ".."))
BUILD = os.environ.get("DROMOS_BUILD", os.path.join(REPO, "build"))
DROMOSCTL = os.path.join(BUILD, "bin", "dromosctl")

ALG_SHA256 = 0x000B


@pytest.fixture(scope="module")
def swtpm():
    if not have_swtpm():
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
            "--tcti", f"swtpm:host=127.0.0.1,port={port_pair()}")
    assert r.returncode == 1
    assert "cannot talk to the TPM" in r.stderr
    assert not out.exists()
    r = ctl("key", "seal-tpm", str(out), "--tcti", "/tmp/evil.so")
    assert r.returncode == 1
    assert "bad TCTI" in r.stderr
    assert not out.exists()


GDB = "/usr/bin/gdb"


def test_no_key_left_in_memory(swtpm, tmp_path):
    """At exit(3), no copy of the root key, raw or as hex, is in
    dromosctl's memory, not even in the blocks tpm2-tss marshalled it into
    and freed (common/wipefree.c wipes every freed block).  gdb stops
    dromosctl and dumps a core: one dumped as the TPM is asked to seal the
    key must hold it (the search works), one dumped in exit() must not."""
    with open(DROMOSCTL, "rb") as f:
        if b"__asan_init" in f.read():
            pytest.skip("ASan's shadow memory makes the core too large")
    keyfile = tmp_path / "root.key"
    assert ctl("key", "init", str(keyfile)).returncode == 0
    hexkey = keyfile.read_text().strip()
    needles = (bytes.fromhex(hexkey), hexkey.encode(), hexkey.upper().encode())

    def copies(stop):
        core = tmp_path / f"core.{stop}"
        out = tmp_path / f"root.{stop}.tpm"
        r = subprocess.run(
            [GDB, "-q", "-batch", "-ex", f"break {stop}", "-ex", "run",
             "-ex", f"generate-core-file {core}", "-ex", "kill", "--args",
             DROMOSCTL, "key", "seal-tpm", "-k", str(keyfile), "-T", swtpm.tcti,
             "-o", str(out)],
            capture_output=True, timeout=120)
        assert core.exists(), r.stderr.decode()[-400:]
        data = core.read_bytes()
        core.unlink()
        return sum(data.count(n) for n in needles)

    assert copies("Esys_Create") >= 1
    assert copies("exit") == 0
