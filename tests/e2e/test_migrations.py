"""The migrations in unpriv/sql/ against a real PostgreSQL, applied the way
unpriv/migrate.c does (in version order, each in a transaction), and the
constraints they promise: what must be refused is refused, and what must
be accepted is accepted.
"""
import glob
import os
import subprocess

import psycopg2
import psycopg2.errors as E
import pytest

from conftest import REPO

SQL = sorted(glob.glob(os.path.join(REPO, "unpriv", "sql", "*.sql")))
SEALED = b"DRM\x01\x00\x00\x00\x01" + b"\x11" * 40
HASH = b"\x22" * 32


def apply_all(dsn):
    for f in SQL:
        subprocess.run(["psql", "-X", "-q", "-v", "ON_ERROR_STOP=1",
                        "--single-transaction", "-d", dsn, "-f", f],
                       check=True, capture_output=True)


@pytest.fixture
def db(pgdb):
    apply_all(pgdb)
    conn = psycopg2.connect(pgdb)
    conn.autocommit = True
    try:
        cur = conn.cursor()
        cur.execute("INSERT INTO providers (id, auth_mode, config) VALUES "
                    "('gh', 'oauth2', '{\"id\": \"gh\"}')")
        cur.execute("INSERT INTO clients (id, name, token_hash, scopes) "
                    "VALUES ('0123456789ab', 'svc', %s, '{admin}')", (HASH,))
        yield cur
    finally:
        conn.close()


def test_files_named_and_numbered():
    assert SQL, "no migrations"
    versions = []
    for f in SQL:
        base = os.path.basename(f)
        assert base[:3].isdigit() and base[3] == "_" and base.endswith(".sql")
        versions.append(int(base[:3]))
    assert versions == sorted(set(versions))
    assert versions[0] == 1


def test_tables_and_columns(db):
    db.execute("SELECT table_name FROM information_schema.tables "
               "WHERE table_schema = 'public' ORDER BY 1")
    assert [r[0] for r in db.fetchall()] == [
        "access_log", "clients", "connect_sessions", "connections",
        "keyring", "oauth_sessions", "providers"]
    db.execute("SELECT column_name FROM information_schema.columns "
               "WHERE table_name = 'connections' ORDER BY ordinal_position")
    assert [r[0] for r in db.fetchall()] == [
        "id", "provider", "owner", "status", "metadata", "secrets",
        "key_version", "expires_at", "refresh_attempts", "last_error",
        "last_refresh_at", "needs_reauth", "created_at", "updated_at",
        "last_forced_refresh_at"]
    db.execute("SELECT indexdef FROM pg_indexes WHERE tablename = 'access_log'")
    assert any("(connection, at)" in r[0] for r in db.fetchall())


GOOD = [
    "INSERT INTO keyring (id, blob) VALUES (1, '\\x01')",
    "INSERT INTO connections (id, provider, owner, secrets, key_version) "
    "VALUES ('acme.gh_1-x', 'gh', 'acme', %(sealed)s, 1)",
    "INSERT INTO connections (id, provider, owner) VALUES ('" + "a" * 128 +
    "', 'gh', 'acme')",
    "INSERT INTO providers (id, auth_mode, config, client_secret) VALUES "
    "('p_1-x', 'api_key', '{\"id\": \"p_1-x\"}', %(sealed)s)",
    "INSERT INTO oauth_sessions (state_hash, provider, verifier, redirect_uri,"
    " expires_at) VALUES (%(hash)s, 'gh', %(sealed)s, 'https://x/cb',"
    " now() + interval '10 minutes')",
    "INSERT INTO connect_sessions (id, token_hash, client, owner, expires_at)"
    " VALUES ('s1', %(hash)s, '0123456789ab', 'acme', now())",
    "INSERT INTO access_log (operation, outcome) VALUES ('token', 'ok')",
]


@pytest.mark.parametrize("stmt", GOOD)
def test_accepted(db, stmt):
    db.execute(stmt, {"sealed": SEALED, "hash": HASH})
    assert db.rowcount == 1


BAD = [
    # keyring: one row only
    ("INSERT INTO keyring (id, blob) VALUES (2, '\\x01')", E.CheckViolation),
    ("INSERT INTO keyring (id, blob) VALUES (1, '')", E.CheckViolation),
    # connection ids, owners, providers
    ("INSERT INTO connections (id, provider, owner) VALUES "
     "('bad id', 'gh', 'acme')", E.CheckViolation),
    ("INSERT INTO connections (id, provider, owner) VALUES "
     "('../x', 'gh', 'acme')", E.CheckViolation),
    ("INSERT INTO connections (id, provider, owner) VALUES ('" + "a" * 129 +
     "', 'gh', 'acme')", E.CheckViolation),
    ("INSERT INTO connections (id, provider, owner) VALUES ('', 'gh', 'a')",
     E.CheckViolation),
    ("INSERT INTO connections (id, provider, owner) VALUES ('c', 'gh', '')",
     E.CheckViolation),
    ("INSERT INTO connections (id, provider, owner) VALUES "
     "('c', 'nope', 'acme')", E.ForeignKeyViolation),
    ("INSERT INTO connections (id, provider, owner, metadata) VALUES "
     "('c', 'gh', 'acme', '[]')", E.CheckViolation),
    # a sealed column never holds a plaintext, and has its key version
    ("INSERT INTO connections (id, provider, owner, secrets, key_version) "
     "VALUES ('c', 'gh', 'acme', 'plaintext', 1)", E.CheckViolation),
    ("INSERT INTO connections (id, provider, owner, secrets) "
     "VALUES ('c', 'gh', 'acme', %(sealed)s)", E.CheckViolation),
    ("INSERT INTO connections (id, provider, owner, key_version) "
     "VALUES ('c', 'gh', 'acme', 1)", E.CheckViolation),
    # providers: id shape, the document's own id, no secret in config
    ("INSERT INTO providers (id, auth_mode, config) VALUES "
     "('GitHub', 'oauth2', '{\"id\": \"GitHub\"}')", E.CheckViolation),
    ("INSERT INTO providers (id, auth_mode, config) VALUES "
     "('x', 'oauth2', '{\"id\": \"y\"}')", E.CheckViolation),
    ("INSERT INTO providers (id, auth_mode, config) VALUES "
     "('x', 'oauth2', '{\"id\": \"x\", \"client_secret\": \"s\"}')",
     E.CheckViolation),
    ("INSERT INTO providers (id, auth_mode, config, client_secret) VALUES "
     "('x', 'oauth2', '{\"id\": \"x\"}', 'plain')", E.CheckViolation),
    ("INSERT INTO providers (id, auth_mode, config) VALUES "
     "('gh', 'oauth2', '{\"id\": \"gh\"}')", E.UniqueViolation),
    # clients
    ("INSERT INTO clients (id, name, token_hash, scopes) VALUES "
     "('x', 'svc', %(hash)s, '{}')", E.UniqueViolation),
    ("INSERT INTO clients (id, name, token_hash, scopes) VALUES "
     "('x', 'y', '\\x00', '{}')", E.CheckViolation),
    ("INSERT INTO clients (id, name, token_hash, scopes) VALUES "
     "('x', 'has space', %(hash)s, '{}')", E.CheckViolation),
    # OAuth sessions
    ("INSERT INTO oauth_sessions (state_hash, provider, verifier, "
     "redirect_uri, expires_at) VALUES (%(hash)s, 'gh', 'plain', 'u', now())",
     E.CheckViolation),
    ("INSERT INTO oauth_sessions (state_hash, provider, verifier, "
     "redirect_uri) VALUES (%(hash)s, 'gh', %(sealed)s, 'u')",
     E.NotNullViolation),
    ("INSERT INTO access_log (operation) VALUES ('token')",
     E.NotNullViolation),
]


@pytest.mark.parametrize("stmt,error", BAD)
def test_refused(db, stmt, error):
    with pytest.raises(error):
        db.execute(stmt, {"sealed": SEALED, "hash": HASH})


def test_provider_in_use_cannot_go(db):
    db.execute("INSERT INTO connections (id, provider, owner) "
               "VALUES ('c', 'gh', 'acme')")
    with pytest.raises(E.ForeignKeyViolation):
        db.execute("DELETE FROM providers WHERE id = 'gh'")
    db.execute("DELETE FROM connections WHERE id = 'c'")
    db.execute("DELETE FROM providers WHERE id = 'gh'")
    assert db.rowcount == 1


def test_rfc3339(db):
    db.execute("SELECT rfc3339('2025-01-31 13:14:15.678+02'), rfc3339(NULL)")
    assert db.fetchone() == ("2025-01-31T11:14:15Z", None)


def test_applying_twice_fails(pgdb):
    """Migrations are not idempotent by themselves: schema_migrations is
    what keeps them from running twice."""
    apply_all(pgdb)
    with pytest.raises(subprocess.CalledProcessError):
        apply_all(pgdb)


def test_access_log_indexes(db):
    """Every credential read inserts a row: `at` has a BRIN index, not a
    btree; reads of one connection keep their btree (connection, at)."""
    db.execute("SELECT indexname, indexdef FROM pg_indexes "
               "WHERE tablename = 'access_log' ORDER BY 1")
    got = dict(db.fetchall())
    assert set(got) == {"access_log_pkey", "access_log_connection_at",
                        "access_log_at_brin"}, got
    assert "USING brin (at)" in got["access_log_at_brin"]
    assert "USING btree (connection, at)" in got["access_log_connection_at"]
