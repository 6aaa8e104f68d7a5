"""`dromosctl audit verify` over the files of a rotated audit log.

No daemon runs here: the logs are written in Python, in the exact format of
priv/audit.h (SHA-256 chain, Ed25519 checkpoints over "dromos audit
checkpoint v1" || seq || h), under a key made for the test, whose public
half is what `audit verify -p` takes.  Rotation works as audit_reopen()
does: the old file ends with a checkpoint, the new one begins with a copy
of that line and the chain goes on from it.
"""
import hashlib
import os
import subprocess

import pytest

ed25519 = pytest.importorskip("cryptography.hazmat.primitives.asymmetric.ed25519")
serialization = pytest.importorskip("cryptography.hazmat.primitives.serialization")

REPO = os.path.abspath(os.path.join(os.path.dirname(__file__), "..", ".."))
BUILD = os.environ.get("DROMOS_BUILD", os.path.join(REPO, "build"))
DROMOSCTL = os.path.join(BUILD, "bin", "dromosctl")

CONTEXT = b"dromos audit checkpoint v1"
TIME = "2030-01-02T03:04:05.678Z"


class Writer:
    """The writer's chain, one list of lines per file."""

    def __init__(self, key, every=10):
        self.key = key
        self.every = every
        self.seq = 0
        self.h = bytes(32)
        self.since_cp = 0
        self.files = [[]]

    def _add(self, body, cp):
        h = hashlib.sha256(self.h + body.encode()).digest()
        line = body + ',"h":"%s"' % h.hex()
        if cp:
            sig = self.key.sign(CONTEXT + self.seq.to_bytes(8, "big") + h)
            line += ',"sig":"%s"' % sig.hex()
        self.files[-1].append(line + "}\n")
        self.h = h
        self.since_cp = 0 if cp else self.since_cp + 1

    def event(self):
        self.seq += 1
        self._add('{"seq":%d,"time":"%s","op":"OPEN","purpose":"provider_secret",'
                  '"table":"providers","row":"%d","column":"client_secret","kv":1,'
                  '"outcome":"ok","pid":%d' % (self.seq, TIME, self.seq * 7, 1000 + self.seq),
                  False)
        if self.since_cp >= self.every:
            self.checkpoint()

    def checkpoint(self):
        if self.since_cp == 0 and self.files[-1]:
            return
        self.seq += 1
        self._add('{"seq":%d,"time":"%s","op":"CHECKPOINT"' % (self.seq, TIME), True)

    def events(self, n):
        for _ in range(n):
            self.event()

    def rotate(self):
        self.checkpoint()
        self.files.append([self.files[-1][-1]])


@pytest.fixture
def key():
    return ed25519.Ed25519PrivateKey.generate()


@pytest.fixture
def pub(key):
    raw = key.public_key().public_bytes(serialization.Encoding.Raw,
                                        serialization.PublicFormat.Raw)
    return raw.hex()


def rotated(key, sizes, signed_end=True):
    """A log of len(sizes) files, sizes[i] events in file i."""
    w = Writer(key)
    for i, n in enumerate(sizes):
        if i > 0:
            w.rotate()
        w.events(n)
    if signed_end:
        w.checkpoint()
    return w.files


def write(tmp_path, names, files):
    paths = []
    for name, lines in zip(names, files):
        p = tmp_path / name
        p.write_text("".join(lines))
        paths.append(str(p))
    return paths


def verify(pub, *paths, stdin=None, opts=()):
    return subprocess.run([DROMOSCTL, "audit", "verify", *opts, "-p", pub, *paths],
                          input=stdin, capture_output=True, text=True, timeout=30)


def seqs(lines):
    """First and last seq of a file's lines."""
    first = int(lines[0].split(",", 1)[0].split(":")[1])
    last = int(lines[-1].split(",", 1)[0].split(":")[1])
    return first, last


def test_one_fresh_file(tmp_path, key, pub):
    # The Python writer agrees with the C verifier on a plain log.
    (a,) = write(tmp_path, ["a.log"], rotated(key, [25]))
    r = verify(pub, a)
    assert r.returncode == 0, r.stderr
    assert r.stdout == "%s: 28 lines, 3 checkpoints, last seq 28: verified\n" % a


def test_linked_files_verify(tmp_path, key, pub):
    files = rotated(key, [25, 30, 7])
    paths = write(tmp_path, ["a.log", "b.log", "c.log"], files)
    assert files[1][0] == files[0][-1] and files[2][0] == files[1][-1]
    r = verify(pub, *paths)
    assert r.returncode == 0, r.stderr
    out = r.stdout.splitlines()
    assert len(out) == 3
    assert out[0] == "%s: 28 lines, 3 checkpoints, last seq 28: verified" % paths[0]
    for p, lines, o in zip(paths[1:], files[1:], out[1:]):
        first, last = seqs(lines)
        cps = sum('"CHECKPOINT"' in x for x in lines)
        assert o == "%s: %d lines, %d checkpoints, seq %d-%d: verified " \
            "(continues seq %d)" % (p, len(lines), cps, first, last, first)
    assert verify(pub, *paths, opts=["-q"]).stdout == ""


def test_reversed_order(tmp_path, key, pub):
    files = rotated(key, [25, 30])
    a, b = write(tmp_path, ["a.log", "b.log"], files)
    r = verify(pub, b, a)
    assert r.returncode == 1
    assert "%s: does not continue %s (it starts at seq 1, %s ends at seq %d)" % (
        a, b, b, seqs(files[1])[1]) in r.stderr
    # Nothing is claimed verified after the broken link.
    assert a not in r.stdout


def test_middle_file_missing(tmp_path, key, pub):
    files = rotated(key, [25, 30, 7])
    a, b, c = write(tmp_path, ["a.log", "b.log", "c.log"], files)
    r = verify(pub, a, c)
    assert r.returncode == 1
    assert "%s: does not continue %s (it starts at seq %d, %s ends at seq %d)" % (
        c, a, seqs(files[2])[0], a, seqs(files[0])[1]) in r.stderr
    assert r.stdout.startswith(a + ":")


def test_continued_file_alone(tmp_path, key, pub):
    files = rotated(key, [25, 30])
    _, b = write(tmp_path, ["a.log", "b.log"], files)
    first, last = seqs(files[1])
    r = verify(pub, b)
    # Intact, but not shown whole: exit 2, as for an unsigned tail.
    assert r.returncode == 2, r.stderr
    assert r.stdout == "%s: %d lines, 4 checkpoints, seq %d-%d: verified; " \
        "continues seq %d of a file not given\n" % (b, len(files[1]), first, last, first)
    assert "%s: warning: it continues seq %d of a file not given: that no line " \
        "is missing before it is not shown" % (b, first) in r.stderr


def test_anchor_time_edited(tmp_path, key, pub):
    # The anchor's time is signed by neither chain nor signature: alone the
    # file verifies, but it no longer continues the file before.
    files = rotated(key, [25, 30])
    files[1][0] = files[1][0].replace(TIME, TIME.replace("2030", "2031"))
    a, b = write(tmp_path, ["a.log", "b.log"], files)
    assert verify(pub, b).returncode == 2
    r = verify(pub, a, b)
    assert r.returncode == 1
    assert "%s: does not continue %s (its first line is not the checkpoint " \
        "at seq 28 that %s ends with)" % (b, a, a) in r.stderr


def test_last_file_unsigned(tmp_path, key, pub):
    # b.log: its anchor, 10 events, a checkpoint, 10, one, then 7 unsigned.
    files = rotated(key, [25, 27], signed_end=False)
    a, b = write(tmp_path, ["a.log", "b.log"], files)
    assert len(files[1]) == 30 and '"CHECKPOINT"' in files[1][22]
    r = verify(pub, a, b)
    assert r.returncode == 2, r.stderr
    assert r.stdout.startswith(a + ":") and b not in r.stdout
    assert "%s: warning: lines 24-30 follow the last checkpoint and are not " \
        "signed" % b in r.stderr


def test_earlier_file_unsigned(tmp_path, key, pub):
    # a.log lost its final checkpoint (the one b.log begins with).
    files = rotated(key, [25, 30])
    files[0] = files[0][:-1]
    a, b = write(tmp_path, ["a.log", "b.log"], files)
    assert verify(pub, a).returncode == 2
    r = verify(pub, a, b)
    assert r.returncode == 1
    assert "%s: does not continue %s (%s ends at seq 27 without a checkpoint: " \
        "lines 23-27 are not signed)" % (b, a, a) in r.stderr
    assert r.stdout == ""


def test_bad_line_in_later_file(tmp_path, key, pub):
    files = rotated(key, [25, 30])
    files[1][5] = files[1][5].replace('"row":"', '"row":"9')
    a, b = write(tmp_path, ["a.log", "b.log"], files)
    r = verify(pub, a, b)
    assert r.returncode == 1
    assert "%s: line 6: hash chain broken" % b in r.stderr
    assert r.stdout.startswith(a + ":")


def test_anchor_from_another_key(tmp_path, key, pub):
    files = rotated(key, [25, 30])
    other = rotated(ed25519.Ed25519PrivateKey.generate(), [25, 30])
    a, b = write(tmp_path, ["a.log", "b.log"], [files[0], other[1]])
    r = verify(pub, b)
    assert r.returncode == 1
    assert "%s: line 1: checkpoint signature does not verify" % b in r.stderr


def test_standard_input(tmp_path, key, pub):
    files = rotated(key, [25, 30])
    a, b = write(tmp_path, ["a.log", "b.log"], files)
    r = verify(pub, "-", stdin="".join(files[1]))
    assert r.returncode == 2, r.stderr
    assert r.stdout.startswith("-: ") and "a file not given" in r.stdout
    r = verify(pub, a, "-", stdin="".join(files[1]))
    assert r.returncode == 1 and "standard input must be the only file" in r.stderr


def test_usage(pub):
    r = verify(pub)
    assert r.returncode == 1
    assert "audit verify [-q] -p PUBKEY FILE [FILE ...]" in r.stderr
