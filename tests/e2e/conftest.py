"""Fixtures shared by the end-to-end tests: real processes, real peers.

`pg` starts a throwaway PostgreSQL cluster for the test session: initdb in a
temporary directory (as the `postgres` user when we are root, since initdb
refuses root), listening on a unix socket only, and removed afterwards even
when a test fails.  Tests get its libpq connection string.
"""
import os
import pwd
import shutil
import subprocess
import tempfile
import time

import pytest

PG_BIN = None
for v in ("17", "16", "15"):
    if os.path.isdir(f"/usr/lib/postgresql/{v}/bin"):
        PG_BIN = f"/usr/lib/postgresql/{v}/bin"
        break

REPO = os.path.abspath(os.path.join(os.path.dirname(__file__), "..", ".."))
BUILD = os.environ.get("DROMOS_BUILD", os.path.join(REPO, "build"))


def _as_pg_user(argv):
    """Run argv as the cluster owner: `postgres` for root, else ourselves."""
    if os.geteuid() == 0:
        return ["runuser", "-u", "postgres", "--"] + argv
    return argv


class PgCluster:
    def __init__(self):
        self.dir = tempfile.mkdtemp(prefix="dromos-pg-")
        self.data = os.path.join(self.dir, "data")
        self.sock = os.path.join(self.dir, "sock")
        self.log = os.path.join(self.dir, "postgres.log")
        os.mkdir(self.sock)
        if os.geteuid() == 0:
            pw = pwd.getpwnam("postgres")
            for p in (self.dir, self.sock):
                os.chown(p, pw.pw_uid, pw.pw_gid)
        # Others must reach the socket (the broker runs as _dromos), never
        # list or write the directory.
        os.chmod(self.dir, 0o711)
        os.chmod(self.sock, 0o711)
        self.user = "postgres" if os.geteuid() == 0 else pwd.getpwuid(os.geteuid()).pw_name

    def start(self):
        subprocess.run(_as_pg_user([
            f"{PG_BIN}/initdb", "-D", self.data, "-U", self.user,
            "--auth=trust", "--no-sync", "-E", "UTF8", "--locale=C"]),
            check=True, stdout=subprocess.DEVNULL)
        self.start_server()

    def stop_server(self):
        """Stop the server only (the cluster stays, for a restart)."""
        subprocess.run(_as_pg_user([
            f"{PG_BIN}/pg_ctl", "-D", self.data, "-m", "immediate", "-w", "stop"]),
            check=True, stdout=subprocess.DEVNULL)

    def start_server(self):
        opts = (f"-c listen_addresses='' -c unix_socket_directories={self.sock} "
                "-c fsync=off -c full_page_writes=off -c unix_socket_permissions=0777")
        subprocess.run(_as_pg_user([
            f"{PG_BIN}/pg_ctl", "-D", self.data, "-l", self.log, "-w",
            "-o", opts, "start"]), check=True, stdout=subprocess.DEVNULL)

    def dsn(self, dbname="postgres"):
        return f"host={self.sock} dbname={dbname} user={self.user}"

    def stop(self):
        if os.path.exists(os.path.join(self.data, "postmaster.pid")):
            subprocess.run(_as_pg_user([
                f"{PG_BIN}/pg_ctl", "-D", self.data, "-m", "immediate", "-w", "stop"]),
                stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL)
        shutil.rmtree(self.dir, ignore_errors=True)


@pytest.fixture(scope="session")
def pg():
    """A private PostgreSQL cluster for the whole session; yields it."""
    assert PG_BIN is not None, "PostgreSQL server binaries not found (scripts/install-deps)"
    c = PgCluster()
    try:
        c.start()
        yield c
    finally:
        c.stop()


_dbseq = iter(range(1, 1 << 30))


@pytest.fixture
def pgdb(pg):
    """A fresh database in the session cluster for one test; its DSN."""
    import psycopg2
    name = f"t{os.getpid()}_{next(_dbseq)}_{int(time.time() * 1000) % 100000}"
    admin = psycopg2.connect(pg.dsn())
    admin.autocommit = True
    admin.cursor().execute(f'CREATE DATABASE "{name}"')
    try:
        yield pg.dsn(name)
    finally:
        admin.cursor().execute(f'DROP DATABASE IF EXISTS "{name}" WITH (FORCE)')
        admin.close()
