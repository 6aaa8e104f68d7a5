"""Connect sessions: where a session may send the browser back."""
import json
import os
import shutil

from dromos import REPO, Appliance, dromosctl


def test_return_url_allow_lists(pgdb):
    app = Appliance(pgdb, extra_conf='allow return url "https://app.example/done/"\n'
                                      'allow return url "https://exact.example/cb"\n')
    try:
        app.start()
        dromosctl(app, "provider", "add", os.path.join(REPO, "etc", "providers", "openai.json"))
        tok = dromosctl(app, "client", "add", "svc", "--scope", "connect:session").strip()
        hdr = {"Authorization": f"Bearer {tok}", "Content-Type": "application/json"}

        def session(url):
            body = {"owner": "acme", "providers": ["openai"], "return_url": url}
            st, _, raw = app.request("POST", "/connect/sessions", json.dumps(body), hdr)
            return st, json.loads(raw)

        for ok in ("https://app.example/done/x?y=1", "https://exact.example/cb",
                   "https://127.0.0.1:8443/v1/connect/done"):
            st, doc = session(ok)
            assert st == 201, (ok, doc)
            assert doc["session"].startswith("drs_")
        for bad in ("https://app.example/done", "https://app.example.evil/done/",
                    "https://exact.example/cb/more", "https://other.example/",
                    "javascript:alert(1)"):
            st, doc = session(bad)
            assert st == 422, (bad, doc)
            assert doc["errors"][0]["path"] == "$.return_url"
    finally:
        app.stop()
        shutil.rmtree(app.dir, ignore_errors=True)
