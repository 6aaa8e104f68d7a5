"""A software TPM 2.0 (swtpm) for the end-to-end tests.

`Swtpm` starts one emulator on free loopback ports with its state in a
private directory; `stop()` ends it and removes the directory, so callers
put it in a fixture's `finally`.  `tcti` is the string dromosd, dromosctl
and tpm2-tools take to reach it.
"""
import os
import shutil
import signal
import socket
import subprocess
import tempfile
import time

SWTPM = os.environ.get("DROMOS_SWTPM") or shutil.which("swtpm")


def have_swtpm():
    return SWTPM is not None and os.access(SWTPM, os.X_OK)


def port_pair():
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
        # Another process may take the port between port_pair() and the
        # bind: then swtpm exits and we try another pair.
        for _ in range(5):
            port = port_pair()
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
                    return self
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
