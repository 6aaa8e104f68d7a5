#!/usr/bin/python3
"""A broker gone bad: dromosd execs this instead of dromos-broker.

It reads the keyholder's KH_CONFIG on fd 3, then sends the one malformed
request named in the file "<this script>.case" and waits for the keyholder
to hang up.  What it saw is written to "<this script>.out".
"""
import os
import socket
import struct
import sys

KH_SEAL, KH_OPEN, KH_KEYRING_INIT, KH_HEALTH, KH_METRICS = 1, 2, 3, 9, 10
KH_R_OK, KH_R_KEYRING = 100, 103
PLANTED = b"PLANTED-PLAINTEXT-7f3a9c"


def hdr(typ, length, peerid=1, pid=None):
    return struct.pack("=IIII", typ, length, peerid, pid or os.getpid())


def msg(typ, payload=b"", peerid=1):
    return hdr(typ, 16 + len(payload), peerid) + payload


def s(v):
    return struct.pack(">I", len(v)) + v


def ad(purpose=b"test", table=b"t", row=b"1", column=b"c"):
    return s(purpose) + s(table) + s(row) + s(column)


CASES = {
    "unknown_type": msg(999),
    "short_seal": msg(KH_SEAL, b"\x00\x00"),
    "long_health": msg(KH_HEALTH, b"\x00" * 4),
    "long_metrics": msg(KH_METRICS, b"\x00" * 4),
    "header_below_size": hdr(KH_HEALTH, 8),
    "header_above_max": hdr(KH_HEALTH, 0x7FFFFFF0),
    "fdbit_without_fd": hdr(KH_HEALTH, 16 | 0x80000000),
    "string_overrun": msg(KH_SEAL, struct.pack(">I", 5000) + b"test" + ad()[8:] + s(PLANTED)),
    "nul_in_string": msg(KH_SEAL, s(b"te\x00st") + ad()[8:] + s(PLANTED)),
    "leftover_bytes": msg(KH_SEAL, ad() + s(PLANTED) + b"\x01"),
    "bad_field_chars": msg(KH_SEAL, ad(purpose=b"UP/PER") + s(PLANTED)),
    "open_garbage_len": msg(KH_OPEN, ad() + struct.pack(">I", 0xFFFFFFFF) + b"x" * 40),
}


def recv_msg(sock):
    buf = b""
    while len(buf) < 16:
        chunk = sock.recv(16 - len(buf))
        if not chunk:
            return None, None
        buf += chunk
    typ, length, _, _ = struct.unpack("=IIII", buf)
    body = b""
    while len(body) < (length & 0x7FFFFFFF) - 16:
        chunk = sock.recv((length & 0x7FFFFFFF) - 16 - len(body))
        if not chunk:
            return None, None
        body += chunk
    return typ, body


def main():
    me = os.path.abspath(sys.argv[0])
    with open(me + ".case") as f:
        case = f.read().strip()
    sock = socket.socket(fileno=3)
    seen = []
    typ, _ = recv_msg(sock)
    seen.append(f"config {typ}")
    # A keyring first, so SEAL/OPEN requests reach their field checks.
    sock.sendall(msg(KH_KEYRING_INIT, peerid=7))
    typ, _ = recv_msg(sock)
    seen.append(f"init {typ}")
    sock.sendall(CASES[case])
    sock.settimeout(10)
    try:
        typ, _ = recv_msg(sock)
        seen.append("eof" if typ is None else f"answer {typ}")
    except (OSError, socket.timeout) as e:
        seen.append(f"error {e}")
    with open(me + ".out", "w") as f:
        f.write("\n".join(seen) + "\n")


if __name__ == "__main__":
    main()
