"""The broker's database layer (unpriv/db.c, migrate.c, store.c, vault.c)
against a real PostgreSQL.

The C tests live in tests/store/ (build/tests/test-store); their `pg` group
needs a database and is skipped without one.  Here each run gets a fresh
database from the session cluster, so every one of those tests must pass
and none may be skipped.
"""
import os
import re
import subprocess

from conftest import BUILD, REPO

PROG = os.path.join(BUILD, "tests", "test-store")


def run_store_tests(dsn):
    assert os.access(PROG, os.X_OK), f"{PROG} is not built (make tests)"
    env = dict(os.environ, DROMOS_TEST_PG=dsn)
    p = subprocess.run([PROG], cwd=REPO, env=env, capture_output=True,
                       text=True, timeout=300)
    return p.returncode, p.stdout + p.stderr


def test_store_layer_against_postgres(pgdb):
    rc, out = run_store_tests(pgdb)
    assert rc == 0, out
    assert "SKIPPED" not in out, out
    assert not re.search(r"Sanitizer|runtime error", out), out
    passed = [int(n) for n in re.findall(r"\[  PASSED  \] (\d+) test", out)]
    # embed, vault, db, pg: every group ran, the pg group in full.
    assert len(passed) == 4, out
    assert passed[3] >= 18, out


def test_password_never_logged(pg, pgdb):
    """A conninfo with a password: the log of the whole run never shows it."""
    secret = "Xq9-never-in-a-log-7Kp"
    rc, out = run_store_tests(pgdb + f" password={secret}")
    assert rc == 0, out
    assert secret not in out
