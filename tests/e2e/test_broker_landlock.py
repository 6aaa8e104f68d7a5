"""The broker's Landlock view (unpriv/fsview.h) with the real processes:
the files libpq's connection string names stay readable after the
sandbox, so a broker whose database needs a password from a passfile
connects, on start-up and for every later connection, while the log names
what the broker may read.  tests/unpriv/test_fsview.c shows, in a child,
that nothing else can be read."""
import os
import pwd
import secrets
import shutil
import tempfile

import psycopg2
import pytest

from dromos import Appliance, dromosctl, is_root

ROLE = "dromos_pwauth"


@pytest.fixture
def pw_database(pg):
    """A database owned by a role that must give a password (scram), the
    password, and the DSN without it; all undone afterwards."""
    password = secrets.token_urlsafe(18)
    db = f"pw{os.getpid()}"
    admin = psycopg2.connect(pg.dsn())
    admin.autocommit = True
    cur = admin.cursor()
    cur.execute(f"DROP DATABASE IF EXISTS {db} WITH (FORCE)")
    cur.execute(f"DROP ROLE IF EXISTS {ROLE}")
    cur.execute(f"CREATE ROLE {ROLE} LOGIN PASSWORD %s", (password,))
    cur.execute(f"CREATE DATABASE {db} OWNER {ROLE}")
    hba = os.path.join(pg.data, "pg_hba.conf")
    with open(hba) as f:
        saved = f.read()
    with open(hba, "w") as f:
        f.write(f"local all {ROLE} scram-sha-256\n" + saved)
    cur.execute("SELECT pg_reload_conf()")
    try:
        yield f"host={pg.sock} dbname={db} user={ROLE}", password
    finally:
        with open(hba, "w") as f:
            f.write(saved)
        cur.execute("SELECT pg_reload_conf()")
        cur.execute(f"DROP DATABASE IF EXISTS {db} WITH (FORCE)")
        cur.execute(f"DROP ROLE IF EXISTS {ROLE}")
        admin.close()


def broker_user():
    return pwd.getpwnam("_dromos") if is_root() else pwd.getpwuid(os.geteuid())


def test_passfile_read_after_the_sandbox(pw_database):
    dsn, password = pw_database
    d = tempfile.mkdtemp(prefix="dromos-e2e-pgpass-")
    pwdir = os.path.join(d, "secrets")
    os.mkdir(pwdir)
    passfile = os.path.join(pwdir, "pgpass")
    with open(passfile, "w") as f:
        f.write(f"*:*:*:{ROLE}:{password}\n")
    u = broker_user()
    os.chmod(passfile, 0o600)
    os.chown(passfile, u.pw_uid, u.pw_gid)
    os.chmod(d, 0o711)
    os.chmod(pwdir, 0o711)
    app = Appliance(f"{dsn} passfile={passfile}")
    try:
        app.start()
        # Migrations ran, and the admin API reads and writes the database.
        dromosctl(app, "client", "add", "landlock-client", "--scope", "token:read")
        assert "landlock-client" in dromosctl(app, "client", "list")
        log = app.logtext()
        line = [l for l in log.splitlines() if "landlock: reading beneath" in l]
        assert len(line) == 1, log
        assert f" {pwdir} " in line[0] + " ", line[0]
        assert " /etc " in line[0]
        # The directory beside it, the home and the rest are not listed.
        assert f" {d} " not in line[0] + " "
        assert password not in log
    finally:
        app.stop()
        shutil.rmtree(app.dir, ignore_errors=True)
        shutil.rmtree(d, ignore_errors=True)


def test_without_the_passfile_the_broker_cannot_connect(pw_database):
    """The same database, no password anywhere: the broker does not start,
    so the test above shows the passfile was read, not trust."""
    dsn, _ = pw_database
    app = Appliance(dsn)
    try:
        with pytest.raises(RuntimeError, match="exited"):
            app.start()
    finally:
        app.stop()
        shutil.rmtree(app.dir, ignore_errors=True)
