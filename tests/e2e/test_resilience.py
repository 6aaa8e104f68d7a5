"""The broker without its database: 503 problems, then automatic recovery."""
import json
import os
import shutil
import subprocess

from conftest import PgCluster
from dromos import BIN, REPO, Appliance, wait_for


def test_database_loss_and_reconnect():
    pg = PgCluster()
    app = None
    try:
        pg.start()
        app = Appliance(pg.dsn())
        app.start()
        ctl = [os.path.join(BIN, "dromosctl"), "-s", app.admin]
        subprocess.run(ctl + ["provider", "add",
                              os.path.join(REPO, "etc", "providers", "openai.json")],
                       check=True, capture_output=True)
        tok = subprocess.run(ctl + ["client", "add", "svc", "--scope", "admin"],
                             check=True, capture_output=True, text=True).stdout.strip()
        hdr = {"Authorization": f"Bearer {tok}", "Content-Type": "application/json"}
        body = json.dumps({"provider": "openai", "connection": "c1", "owner": "o",
                           "credentials": {"api_key": "sk-resilience0123456789abcd"}})
        assert app.request("POST", "/connections", body, hdr)[0] == 201
        assert app.request("GET", "/token/c1", None, hdr)[0] == 200

        pg.stop_server()
        st, h, raw = app.request("GET", "/token/c1", None, hdr)
        assert st == 503, raw
        assert h["Content-Type"] == "application/problem+json"
        assert json.loads(raw)["type"] == "urn:dromos:problem:unavailable"
        assert app.request("GET", "/ready")[0] == 503
        assert app.proc.poll() is None

        pg.start_server()
        wait_for(lambda: app.request("GET", "/token/c1", None, hdr)[0] == 200, 20,
                 "the broker to reconnect")
        assert app.request("GET", "/ready")[0] == 200
    finally:
        if app:
            app.stop()
            shutil.rmtree(app.dir, ignore_errors=True)
        pg.stop()
