#!/usr/bin/python3
"""A broker's TLS listener, as the gateway sees it, for the end-to-end tests
of `broker tls` in gateway.conf.

HTTP/1.1 with keep-alive over TLS 1.3 only, a client certificate required
and checked against the test CA (ssl.CERT_REQUIRED): what dromos-broker's
`listen tls` does with libmicrohttpd and GnuTLS.  It answers the few broker
routes the tests use, from memory:

  GET  /ready               200 {"status": "ready"}
  GET  /token/{connection}  200 {"connection": ..., "access_token": ...}
                            with a Bearer token; 401 without.  The
                            connection "big" answers a body of BIG bytes.
  POST /connections         201, the JSON body echoed with its length
  anything else             404

Every answer has a Content-Length.  Each TLS connection is handshaken in
its own thread (never in accept()), so a stalled client cannot stop the
others.

A plain-HTTP control listener on loopback lets the tests steer and count:

  GET  /_stats     {"connections": TCP connections accepted,
                    "handshakes": handshakes that succeeded,
                    "refused": handshakes that failed,
                    "last_refusal": why the last one failed,
                    "requests": requests answered,
                    "idle_closed": kept-alive connections closed for
                    idleness, "last": the last request's method, path,
                    Authorization and X-Request-Id}
  POST /_control   JSON {"idle_close": seconds}: from then on, a connection
                   that sends nothing for that long before a request is
                   closed (0: never)
  POST /_reset     counters to zero, idle_close to 0

Usage: tlsbroker.py --listen HOST:PORT --cert C --key K --ca CA
                    --control-port-file PATH
The control port is written to PATH (by a rename) once both listeners are
up.
"""
import argparse
import json
import os
import socket
import ssl
import sys
import threading
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer

BIG = 300 * 1024

lock = threading.Lock()
stats = {}
switches = {}


def reset():
    with lock:
        stats.clear()
        stats.update(connections=0, handshakes=0, refused=0, last_refusal="",
                     requests=0, idle_closed=0, last={})
        switches.clear()
        switches.update(idle_close=0)


def count(name, n=1):
    with lock:
        stats[name] += n


class Broker(BaseHTTPRequestHandler):
    """The broker's routes over TLS."""

    protocol_version = "HTTP/1.1"
    server_version = "tlsbroker"

    def handle_one_request(self):
        # The switch as it is now, for connections already open too.
        with lock:
            idle = switches["idle_close"]
        self.connection.settimeout(idle or None)
        super().handle_one_request()

    def log_error(self, fmt, *args):
        # http.server says so when the socket timeout ends a connection.
        if fmt.startswith("Request timed out"):
            count("idle_closed")
        self.log_message(fmt, *args)

    def log_message(self, fmt, *args):
        sys.stderr.write("tlsbroker: " + (fmt % args) + "\n")

    def answer(self, status, doc):
        # Counted before the answer goes: once the gateway has it, a test
        # may ask for the stats at once.
        with lock:
            stats["requests"] += 1
            stats["last"] = {
                "method": self.command, "path": self.path,
                "authorization": self.headers.get("Authorization"),
                "request_id": self.headers.get("X-Request-Id")}
        body = doc if isinstance(doc, bytes) else json.dumps(doc).encode()
        self.send_response(status)
        self.send_header("Content-Type", "application/json")
        self.send_header("Content-Length", str(len(body)))
        self.end_headers()
        if self.command != "HEAD":
            self.wfile.write(body)

    def do_GET(self):
        if self.path == "/ready":
            return self.answer(200, {"status": "ready"})
        if self.path.startswith("/token/"):
            conn = self.path[len("/token/"):]
            if not (self.headers.get("Authorization") or "").startswith("Bearer "):
                return self.answer(401, {"title": "Unauthorized"})
            if conn == "big":
                return self.answer(200, b'{"blob":"' + b"x" * BIG + b'"}')
            return self.answer(200, {"connection": conn,
                                     "access_token": "at-" + conn,
                                     "token_type": "Bearer"})
        return self.answer(404, {"title": "Not found"})

    def do_POST(self):
        n = int(self.headers.get("Content-Length") or 0)
        data = self.rfile.read(n)
        if self.path == "/connections":
            doc = json.loads(data or b"{}")
            return self.answer(201, {"echo": doc, "length": n})
        return self.answer(404, {"title": "Not found"})


class TLSServer(ThreadingHTTPServer):
    daemon_threads = True
    allow_reuse_address = True

    def __init__(self, addr, ctx):
        self.ctx = ctx
        family = socket.AF_INET6 if ":" in addr[0] else socket.AF_INET
        self.address_family = family
        super().__init__(addr, Broker)

    def process_request_thread(self, request, client_address):
        count("connections")
        # http.server writes the head and the body apart: no Nagle delay.
        request.setsockopt(socket.IPPROTO_TCP, socket.TCP_NODELAY, 1)
        try:
            tls = self.ctx.wrap_socket(request, server_side=True)
        except (ssl.SSLError, OSError) as e:
            with lock:
                stats["refused"] += 1
                stats["last_refusal"] = str(e)
            self.shutdown_request(request)
            return
        count("handshakes")
        super().process_request_thread(tls, client_address)


class Control(BaseHTTPRequestHandler):
    """Plain HTTP on loopback: the tests' side door."""

    protocol_version = "HTTP/1.0"

    def log_message(self, fmt, *args):
        pass

    def reply(self, doc, status=200):
        body = json.dumps(doc).encode()
        self.send_response(status)
        self.send_header("Content-Type", "application/json")
        self.send_header("Content-Length", str(len(body)))
        self.end_headers()
        self.wfile.write(body)

    def do_GET(self):
        if self.path == "/_stats":
            with lock:
                return self.reply(dict(stats))
        self.reply({"error": "not found"}, 404)

    def do_POST(self):
        n = int(self.headers.get("Content-Length") or 0)
        doc = json.loads(self.rfile.read(n) or b"{}")
        if self.path == "/_reset":
            reset()
            return self.reply({})
        if self.path == "/_control":
            with lock:
                for k, v in doc.items():
                    if k not in switches:
                        return self.reply({"error": f"unknown switch {k}"}, 400)
                    switches[k] = v
                return self.reply(dict(switches))
        self.reply({"error": "not found"}, 404)


def context(cert, key, ca):
    ctx = ssl.SSLContext(ssl.PROTOCOL_TLS_SERVER)
    ctx.minimum_version = ssl.TLSVersion.TLSv1_3
    ctx.maximum_version = ssl.TLSVersion.TLSv1_3
    ctx.verify_mode = ssl.CERT_REQUIRED
    ctx.load_verify_locations(cafile=ca)
    ctx.load_cert_chain(cert, key)
    return ctx


def main():
    ap = argparse.ArgumentParser()
    ap.add_argument("--listen", required=True)
    ap.add_argument("--cert", required=True)
    ap.add_argument("--key", required=True)
    ap.add_argument("--ca", required=True)
    ap.add_argument("--control-port-file", required=True)
    a = ap.parse_args()
    host, _, port = a.listen.rpartition(":")
    host = host.strip("[]")
    reset()
    srv = TLSServer((host, int(port)), context(a.cert, a.key, a.ca))
    ctl = ThreadingHTTPServer(("127.0.0.1", 0), Control)
    ctl.daemon_threads = True
    threading.Thread(target=ctl.serve_forever, daemon=True).start()
    tmp = a.control_port_file + ".tmp"
    with open(tmp, "w") as f:
        f.write(f"{ctl.server_address[1]}\n")
    os.rename(tmp, a.control_port_file)
    srv.serve_forever()


if __name__ == "__main__":
    main()
