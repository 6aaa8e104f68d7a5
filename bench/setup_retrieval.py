"""Set-up steps of bench/retrieval.sh that speak HTTP to the broker.

    setup_retrieval.py wait SOCK PID
        wait (up to 30 s) until GET /health on the broker's socket answers
        200; give up at once when process PID (dromosd) has gone
    setup_retrieval.py capture SOCK COUNT PATHS
        capture COUNT openai connections bench-0000... with the token in
        $WRITER, check that one reads back with the token in $READER, and
        write one path /token/bench-NNNN a line to PATHS

Tokens come in the environment, not on the command line.  Set-up time is
not measured; this runs once, over one keep-alive connection.
"""
import http.client
import json
import os
import socket
import sys
import time


class UnixHTTPConnection(http.client.HTTPConnection):
    def __init__(self, path, timeout=30):
        super().__init__("localhost", timeout=timeout)
        self.unix_path = path

    def connect(self):
        s = socket.socket(socket.AF_UNIX, socket.SOCK_STREAM)
        s.settimeout(self.timeout)
        s.connect(self.unix_path)
        self.sock = s


def request(conn, method, path, token=None, body=None):
    headers = {}
    if token:
        headers["Authorization"] = f"Bearer {token}"
    data = None
    if body is not None:
        data = json.dumps(body)
        headers["Content-Type"] = "application/json"
    conn.request(method, path, body=data, headers=headers)
    r = conn.getresponse()
    return r.status, r.read()


def wait(sock, pid):
    end = time.monotonic() + 30
    while time.monotonic() < end:
        if not os.path.exists(f"/proc/{pid}") or proc_state(pid) == "Z":
            print("setup_retrieval: dromosd exited", file=sys.stderr)
            return 1
        try:
            c = UnixHTTPConnection(sock, timeout=2)
            st, _ = request(c, "GET", "/health")
            c.close()
            if st == 200:
                return 0
        except OSError:
            pass
        time.sleep(0.1)
    print("setup_retrieval: broker not healthy after 30 s", file=sys.stderr)
    return 1


def proc_state(pid):
    try:
        with open(f"/proc/{pid}/stat") as f:
            return f.read().rsplit(")", 1)[1].split()[0]
    except OSError:
        return "gone"


def capture(sock, count, paths):
    writer, reader = os.environ["WRITER"], os.environ["READER"]
    c = UnixHTTPConnection(sock)
    names = [f"bench-{i:04d}" for i in range(count)]
    for i, name in enumerate(names):
        key = f"sk-bench{i:04d}" + "x" * 40
        st, body = request(c, "POST", "/connections", writer,
                           {"provider": "openai", "connection": name,
                            "owner": "bench", "credentials": {"api_key": key}})
        if st != 201:
            print(f"setup_retrieval: capture {name}: {st} {body[:200]!r}",
                  file=sys.stderr)
            return 1
    st, body = request(c, "GET", f"/token/{names[-1]}", reader)
    c.close()
    doc = json.loads(body) if st == 200 else {}
    want = f"sk-bench{count - 1:04d}" + "x" * 40
    if doc.get("credentials", {}).get("key") != want:
        print(f"setup_retrieval: read back {names[-1]}: {st}", file=sys.stderr)
        return 1
    with open(paths, "w") as f:
        for name in names:
            f.write(f"/token/{name}\n")
    return 0


def main(argv):
    if len(argv) == 4 and argv[1] == "wait":
        return wait(argv[2], int(argv[3]))
    if len(argv) == 5 and argv[1] == "capture":
        return capture(argv[2], int(argv[3]), argv[4])
    print(__doc__, file=sys.stderr)
    return 2


if __name__ == "__main__":
    sys.exit(main(sys.argv))
