"""The PostgreSQL fixture itself: a real cluster we can use and that goes away."""
import os

import psycopg2


def test_connect_create_write_read(pgdb):
    conn = psycopg2.connect(pgdb)
    try:
        cur = conn.cursor()
        cur.execute("CREATE TABLE probe (id serial PRIMARY KEY, body text NOT NULL)")
        cur.execute("INSERT INTO probe (body) VALUES (%s) RETURNING id", ("written",))
        rowid = cur.fetchone()[0]
        conn.commit()
        cur.execute("SELECT body FROM probe WHERE id = %s", (rowid,))
        assert cur.fetchone() == ("written",)
    finally:
        conn.close()


def test_unix_socket_only(pg):
    conf = os.path.join(pg.data, "postmaster.opts")
    with open(conf) as f:
        opts = f.read()
    assert "listen_addresses=" in opts
    assert os.path.exists(os.path.join(pg.sock, ".s.PGSQL.5432"))


def test_cluster_removed_after_stop():
    from conftest import PgCluster
    c = PgCluster()
    try:
        c.start()
        assert os.path.isdir(c.data)
    finally:
        c.stop()
    assert not os.path.exists(c.dir)
