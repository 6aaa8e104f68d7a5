"""The connect page (GET /v1/connect) in real headless Chromium, driven by
Selenium: the whole appliance behind the gateway over HTTPS, with the
broker's public URL set to the gateway so that providers send the browser
back to it.

- OAuth consent end to end against the Authlib authorization server of
  peers/authserver.py: the page starts it with POST /v1/auth/start, the
  browser follows the redirects through the peer and back to the callback,
  and the token the peer issued is the payload's.
- An API-key capture: a key the page's own check refuses (nothing is
  sent), then one the server refuses (the schema was tightened after the
  page loaded it: the 422 is shown next to the field), then a good one.
- The session leaves the address bar, survives a reload, and is logged
  nowhere; the page's Content-Security-Policy is the strict one and the
  browser reports no violation of it.

Screenshots go to build/check/artifacts/.
"""
import json
import os
import re
import shutil
import subprocess
import tempfile

import psycopg2
import pytest
from selenium import webdriver
from selenium.webdriver.chrome.options import Options
from selenium.webdriver.chrome.service import Service
from selenium.webdriver.common.by import By
from selenium.webdriver.support import expected_conditions as EC
from selenium.webdriver.support.ui import Select, WebDriverWait

from dromos import BIN, REPO, Appliance
from gateway import Gateway, settle
from oauthpeer import OAuthPeer, provider_doc

DB = "connect_page_e2e"
OWNER = "acme"
CHROMIUM = "/usr/bin/chromium"
CHROMEDRIVER = "/usr/bin/chromedriver"
ARTIFACTS = os.path.join(REPO, "build", "check", "artifacts")
WWW = os.path.join(REPO, "gateway", "www")
OPENAI = os.path.join(REPO, "etc", "providers", "openai.json")
STORAGE_KEY = "dromos.connect.session"

STRICT_CSP = ("default-src 'none'; script-src 'self'; style-src 'self'; "
              "connect-src 'self'; img-src 'self'; form-action 'none'; "
              "frame-ancestors 'none'; base-uri 'none'")

# Planted; none may appear in a log.
BAD_KEY = "not-a-key"                                       # fails the page's pattern
OLD_FORM_KEY = "sk-PLANTEDpage0123456789abcdefXY"           # fails the tightened one
GOOD_KEY = "sk-proj-PLANTEDpage0123456789abcdef"            # passes both


class Stack:
    def __init__(self, app, gw, peer, token):
        self.app, self.gw, self.peer, self.token = app, gw, peer, token
        self.base = f"https://127.0.0.1:{gw.port}"


def ctl(app, *args, stdin=None):
    r = subprocess.run([os.path.join(BIN, "dromosctl"), "-s", app.admin, *args],
                       capture_output=True, text=True, input=stdin)
    assert r.returncode == 0, f"dromosctl {args}: {r.stderr}"
    return r.stdout


@pytest.fixture(scope="module")
def stack(pg):
    """A database, the appliance (public url: the gateway), the gateway and
    the OAuth peer with a client for the "peer" provider; all stopped."""
    admin = psycopg2.connect(pg.dsn())
    admin.autocommit = True
    admin.cursor().execute(f'DROP DATABASE IF EXISTS "{DB}" WITH (FORCE)')
    admin.cursor().execute(f'CREATE DATABASE "{DB}"')
    app = gw = None
    peer = OAuthPeer()
    try:
        app = Appliance(pg.dsn(DB))
        # The gateway's port first: the broker builds redirect URIs from it.
        gw = Gateway(app)
        app.write_conf(pg.dsn(DB), f'public url "https://127.0.0.1:{gw.port}"\n')
        app.start()
        gw.start()
        peer.start()
        s = Stack(app, gw, peer, None)
        s.token = ctl(app, "client", "add", "connect-page",
                      "--scope", f"connect:session:{OWNER}-*",
                      "--scope", f"token:read:{OWNER}-*").strip()
        assert s.token.startswith("dro_")
        ctl(app, "provider", "add", OPENAI)
        peer.register_client("dromos-peer", "peer-client-secret", "client_secret_basic",
                             [f"{s.base}/v1/auth/callback/peer"])
        doc = provider_doc(peer, "peer", "dromos-peer", "peer-client-secret",
                           display_name="Example Accounts")
        ctl(app, "provider", "add", "-", stdin=json.dumps(doc))
        yield s
    finally:
        peer.stop()
        if gw is not None:
            gw.cleanup()
        if app is not None:
            app.stop()
            shutil.rmtree(app.dir, ignore_errors=True)
        admin.cursor().execute(f'DROP DATABASE IF EXISTS "{DB}" WITH (FORCE)')
        admin.close()


@pytest.fixture(scope="module")
def browser():
    """Headless Chromium through chromedriver, on a fresh profile; quit
    (browser and driver) whatever happens."""
    tmp = tempfile.mkdtemp(prefix="dromos-chromium-")
    opts = Options()
    opts.binary_location = CHROMIUM
    for a in ("--headless=new", "--no-sandbox", "--disable-gpu", "--disable-dev-shm-usage",
              "--disable-quic", "--no-first-run", "--disable-background-networking",
              "--disable-component-update", "--disable-sync", "--no-proxy-server",
              "--ignore-certificate-errors", "--window-size=720,900",
              f"--user-data-dir={os.path.join(tmp, 'profile')}"):
        opts.add_argument(a)
    opts.set_capability("acceptInsecureCerts", True)
    opts.set_capability("goog:loggingPrefs", {"browser": "ALL"})
    service = Service(executable_path=CHROMEDRIVER,
                      log_path=os.path.join(tmp, "chromedriver.log"))
    driver = None
    try:
        driver = webdriver.Chrome(service=service, options=opts)
        driver.set_page_load_timeout(20)
        yield driver
    finally:
        if driver is not None:
            driver.quit()
        else:
            service.stop()
        shutil.rmtree(tmp, ignore_errors=True)


# ---------------------------------------------------------------- helpers

def call(gw, method, path, token=None, body=None):
    h = {}
    if token:
        h["Authorization"] = f"Bearer {token}"
    data = None
    if body is not None:
        data = json.dumps(body)
        h["Content-Type"] = "application/json"
    st, hd, raw = gw.request(method, path, data, h)
    doc = json.loads(raw) if raw and "json" in hd.get("Content-Type", "") else raw
    return st, hd, doc


def new_session(stack, providers, connection=None):
    body = {"owner": OWNER, "providers": providers}
    if connection:
        body["connection"] = connection
    st, _, doc = call(stack.gw, "POST", "/v1/connect/sessions", stack.token, body)
    assert st == 201, doc
    assert doc["session"].startswith("drs_")
    assert doc["url"] == f"{stack.base}/v1/connect?session={doc['session']}", doc["url"]
    return doc


def wait(driver, cond, what, timeout=15):
    try:
        return WebDriverWait(driver, timeout).until(cond)
    except Exception as e:
        raise AssertionError(f"timed out waiting for {what} at {driver.current_url}: "
                             f"{driver.find_element(By.TAG_NAME, 'body').text!r}") from e


def visible(driver, css, timeout=15):
    return wait(driver, EC.visibility_of_element_located((By.CSS_SELECTOR, css)), css, timeout)


def shot(driver, name):
    """Save a screenshot as a test artifact; it must be a real PNG image."""
    os.makedirs(ARTIFACTS, exist_ok=True)
    path = os.path.join(ARTIFACTS, name)
    if os.path.exists(path):
        os.unlink(path)
    assert driver.save_screenshot(path), path
    with open(path, "rb") as f:
        head = f.read(8)
    assert head == b"\x89PNG\r\n\x1a\n", path
    assert os.path.getsize(path) > 1024, path
    return path


def requests_logged(gw, method, route):
    """The gateway's access-log lines for one route: (status, line)."""
    out = []
    for ln in gw.logtext().splitlines():
        if "gateway: request " in ln and f"method={method}" in ln and \
                re.search(rf"\broute={re.escape(route)}(\s|$)", ln):
            out.append((re.search(r"\bstatus=(\d+)", ln).group(1), ln))
    return out


def csp_violations(driver):
    return [e["message"] for e in driver.get_log("browser")
            if "Content Security Policy" in e.get("message", "")]


def submit(driver):
    driver.find_element(By.ID, "submit").click()


# ------------------------------------------------------------------ tests

def test_oauth_consent_through_the_page(stack, browser):
    gw, peer = stack.gw, stack.peer
    sess = new_session(stack, ["peer", "openai"], f"{OWNER}-peer-page")
    browser.get(sess["url"])
    button = visible(browser, 'button[data-provider="peer"]')
    assert "Example Accounts" in button.text and "Sign in" in button.text
    assert len(browser.find_elements(By.CSS_SELECTOR, "button.provider")) == 2
    shot(browser, "connect-list.png")

    button.click()
    # The page POSTs the start, then Chromium goes through the peer's
    # /authorize (it approves at once) and back to the gateway's callback.
    wait(browser, lambda d: d.current_url.startswith(f"{stack.base}/v1/auth/callback/peer?"),
         "the callback")
    h1 = visible(browser, "h1")
    assert h1.text == "Connected", browser.page_source
    # The broker's result page wears the connect page's stylesheet (its
    # CSP allows same-origin style and nothing else): a card, not the
    # browser's bare defaults.
    main = browser.find_element(By.TAG_NAME, "main")
    assert main.value_of_css_property("max-width") == "512px", \
        main.value_of_css_property("max-width")
    assert browser.find_element(By.CSS_SELECTOR, "p.lead").is_displayed()
    shot(browser, "connect-oauth-result.png")

    issued = [t for t in peer.tokens() if t["grant_type"] == "authorization_code"]
    assert len(issued) == 1, issued
    st, _, p = call(gw, "GET", f"/v1/token/{OWNER}-peer-page", stack.token)
    assert st == 200, p
    assert p["strategy"] == "oauth2" and p["provider"] == "peer"
    assert p["credentials"]["access_token"] == issued[0]["access_token"]
    settle()
    # Started by POST with the session as bearer; never by GET ?session=.
    assert [s for s, _ in requests_logged(gw, "POST", "/v1/auth/start")] == ["200"]
    assert requests_logged(gw, "GET", "/v1/auth/start") == []
    for text in (gw.logtext(), stack.app.logtext(), peer.log()):
        assert sess["session"] not in text
        assert issued[0]["access_token"] not in text


def test_api_key_capture_with_errors_fixed(stack, browser):
    gw, app = stack.gw, stack.app
    conn = f"{OWNER}-openai-page"
    sess = new_session(stack, ["openai"], conn)
    original = open(OPENAI).read()
    try:
        browser.get(sess["url"])
        # One captured provider: its form at once.
        field = visible(browser, "#f-api_key")
        assert browser.find_element(By.ID, "heading").text == "Connect OpenAI"
        assert field.get_attribute("type") == "password"
        assert field.get_attribute("autocomplete") == "off"
        assert field.get_dom_attribute("required") is not None
        assert field.get_dom_attribute("pattern") is None   # checked by the script
        assert browser.find_element(By.CSS_SELECTOR, 'label[for="f-api_key"]').text == "API key"
        assert "starts with sk-" in browser.find_element(By.ID, "f-api_key-help").text
        before = len(requests_logged(gw, "POST", "/v1/connections"))

        # 1. Refused by the page: shown next to the field, nothing sent.
        submit(browser)
        err = visible(browser, "#f-api_key-error")
        assert err.text == "Enter API key."
        field.send_keys(BAD_KEY)
        assert not err.is_displayed()           # typing clears it
        submit(browser)
        err = visible(browser, "#f-api_key-error")
        assert err.text == "API key does not have the expected form."
        assert field.get_attribute("aria-invalid") == "true"
        assert "f-api_key-error" in field.get_attribute("aria-describedby")
        shot(browser, "connect-form.png")
        settle()
        assert len(requests_logged(gw, "POST", "/v1/connections")) == before

        # 2. Refused by the server: the schema changed after the page read
        # it, so the page's check passes and the broker's 422 names the field.
        doc = json.loads(original)
        doc["credentials"]["properties"]["api_key"]["pattern"] = "^sk-proj-[A-Za-z0-9_-]{20,}$"
        ctl(app, "provider", "update", "-", stdin=json.dumps(doc))
        field.clear()
        field.send_keys(OLD_FORM_KEY)
        submit(browser)
        wait(browser, lambda d: "required pattern" in
             d.find_element(By.ID, "f-api_key-error").text, "the server's error")
        assert browser.find_element(By.ID, "f-api_key-error").text == \
            "API key does not match the required pattern."
        assert browser.switch_to.active_element == field
        assert not browser.find_element(By.ID, "view-result").is_displayed()
        settle()
        posts = requests_logged(gw, "POST", "/v1/connections")
        assert [s for s, _ in posts[before:]] == ["422"]
        shot(browser, "connect-form-server-error.png")

        # 3. Fixed and sent again: connected.
        field.clear()
        field.send_keys(GOOD_KEY)
        submit(browser)
        visible(browser, "#view-result")
        assert browser.find_element(By.ID, "heading").text == "Connected"
        assert browser.find_element(By.ID, "result-text").text == \
            "Your OpenAI account is connected."
        assert conn in browser.find_element(By.ID, "result-detail").text
        shot(browser, "connect-result.png")
        settle()
        posts = requests_logged(gw, "POST", "/v1/connections")
        assert [s for s, _ in posts[before:]] == ["422", "201"]

        st, _, p = call(gw, "GET", f"/v1/token/{conn}", stack.token)
        assert st == 200, p
        assert p["strategy"] == "api_key" and p["connection"] == conn
        assert p["credentials"]["key"] == GOOD_KEY
        for text in (gw.logtext(), app.logtext()):
            for planted in (BAD_KEY, OLD_FORM_KEY, GOOD_KEY, sess["session"]):
                assert planted not in text
    finally:
        ctl(app, "provider", "update", "-", stdin=original)


KITCHEN = {
    "id": "kitchen",
    "display_name": "Kitchen <Sink> & Co",
    "auth_mode": "headers",
    "credentials": {
        "type": "object",
        "description": "Every kind of field the page renders.",
        "properties": {
            "team": {"type": "string", "title": "Team", "enum": ["red", "blue", "green"]},
            "token": {"type": "string", "title": "Access token", "secret": True,
                      "description": "8 to 40 of a-z, 0-9, _ and -.",
                      "pattern": "^[a-z0-9_-]+$", "minLength": 8, "maxLength": 40},
            "seats": {"type": "integer", "title": "Seats"},
            "sandbox": {"type": "boolean", "title": "Use the sandbox"},
            "note": {"type": "string", "title": "Note <b>bold</b>", "maxLength": 10},
        },
        "required": ["team", "token"],
    },
    "apply": {"strategy": "headers", "headers": {"X-Team": "{team}", "X-Token": "{token}"}},
}
KITCHEN_TOKEN = "planted_kitchen-42"


def test_schema_form_fields_types_and_escaping(stack, browser):
    """enum, secret, integer, boolean and optional fields; several errors at
    once; typed values sent; markup in titles shown as text."""
    gw, app = stack.gw, stack.app
    conn = f"{OWNER}-kitchen-page"
    ctl(app, "provider", "add", "-", stdin=json.dumps(KITCHEN))
    sess = new_session(stack, ["kitchen"], conn)
    browser.get(sess["url"])
    visible(browser, "#f-token")
    assert browser.find_element(By.ID, "heading").text == "Connect Kitchen <Sink> & Co"
    assert browser.find_element(By.ID, "form-description").text == \
        "Every kind of field the page renders."
    # Required fields first, in the order "required" lists them.
    ids = [e.get_attribute("id") for e in
           browser.find_elements(By.CSS_SELECTOR, "#fields input, #fields select")]
    assert ids[:2] == ["f-team", "f-token"], ids
    assert sorted(ids[2:]) == ["f-note", "f-sandbox", "f-seats"], ids
    team = browser.find_element(By.ID, "f-team")
    assert team.tag_name == "select"
    assert [o.text for o in team.find_elements(By.TAG_NAME, "option")] == \
        ["Choose…", "red", "blue", "green"]
    assert browser.find_element(By.ID, "f-token").get_attribute("type") == "password"
    assert browser.find_element(By.ID, "f-sandbox").get_attribute("type") == "checkbox"
    assert browser.find_element(By.ID, "f-seats").get_attribute("inputmode") == "numeric"
    note_label = browser.find_element(By.CSS_SELECTOR, 'label[for="f-note"]')
    assert note_label.text == "Note <b>bold</b> (optional)"
    assert note_label.find_elements(By.TAG_NAME, "b") == []
    assert browser.find_element(By.CSS_SELECTOR, 'label[for="f-seats"]').text == \
        "Seats (optional)"

    before = len(requests_logged(gw, "POST", "/v1/connections"))
    browser.find_element(By.ID, "f-token").send_keys("abc")
    browser.find_element(By.ID, "f-seats").send_keys("3x")
    browser.find_element(By.ID, "f-note").send_keys("x" * 11)
    submit(browser)
    visible(browser, "#f-team-error")
    errors = {f: browser.find_element(By.ID, f"f-{f}-error").text
              for f in ("team", "token", "seats", "note")}
    assert errors == {"team": "Choose Team.",
                      "token": "Access token must be at least 8 characters long.",
                      "seats": "Seats must be a whole number.",
                      "note": "Note <b>bold</b> must be at most 10 characters long."}
    assert not browser.find_element(By.ID, "f-sandbox-error").is_displayed()
    assert browser.switch_to.active_element == team     # the first error
    shot(browser, "connect-form-fields.png")

    Select(team).select_by_visible_text("blue")
    for fid, text in (("f-token", KITCHEN_TOKEN), ("f-seats", "3"), ("f-note", "hi")):
        el = browser.find_element(By.ID, fid)
        el.clear()
        el.send_keys(text)
    browser.find_element(By.ID, "f-sandbox").click()
    submit(browser)
    visible(browser, "#view-result")
    assert browser.find_element(By.ID, "result-text").text == \
        "Your Kitchen <Sink> & Co account is connected."
    settle()
    assert [s for s, _ in requests_logged(gw, "POST", "/v1/connections")[before:]] == ["201"]
    # Typed as the schema says; the secret is not in the metadata.
    st, _, v = call(gw, "GET", f"/v1/connections/{conn}", stack.token)
    assert st == 200, v
    assert v["metadata"] == {"team": "blue", "seats": 3, "sandbox": True, "note": "hi"}
    st, _, p = call(gw, "GET", f"/v1/token/{conn}", stack.token)
    assert st == 200, p
    assert p["strategy"] == "headers"
    assert p["credentials"] == {"headers": {"X-Team": "blue", "X-Token": KITCHEN_TOKEN}}, p
    assert KITCHEN_TOKEN not in gw.logtext() and KITCHEN_TOKEN not in app.logtext()


def test_session_out_of_address_bar_and_strict_csp(stack, browser):
    gw = stack.gw
    sess = new_session(stack, ["peer", "openai"])
    browser.get_log("browser")                  # start with an empty console
    browser.get(sess["url"])
    visible(browser, 'button[data-provider="openai"]')
    assert "session=" not in browser.current_url
    assert browser.current_url == f"{stack.base}/v1/connect"
    assert browser.execute_script(
        f"return sessionStorage.getItem('{STORAGE_KEY}')") == sess["session"]
    # A reload works from sessionStorage alone.
    browser.refresh()
    visible(browser, 'button[data-provider="openai"]')
    assert len(browser.find_elements(By.CSS_SELECTOR, "button.provider")) == 2
    assert csp_violations(browser) == []
    # A phone's width: one column, no sideways scrolling.
    size = browser.get_window_size()
    try:
        browser.set_window_size(390, 844)
        assert browser.execute_script(
            "return document.documentElement.scrollWidth <= window.innerWidth")
        shot(browser, "connect-list-narrow.png")
    finally:
        browser.set_window_size(size["width"], size["height"])

    # The page's headers; its files, as they are in gateway/www/.
    st, hd, body = gw.request("GET", f"/v1/connect?session={sess['session']}")
    assert st == 200
    assert hd["Content-Security-Policy"] == STRICT_CSP
    assert hd["Content-Type"] == "text/html; charset=utf-8"
    assert hd["Referrer-Policy"] == "no-referrer"
    assert hd["X-Frame-Options"] == "DENY" and hd["Cache-Control"] == "no-store"
    assert sess["session"].encode() not in body
    with open(os.path.join(WWW, "connect.html"), "rb") as f:
        assert body == f.read()
    # Nothing inline for the policy to forbid.
    assert not re.search(rb"<script(?![^>]*\ssrc=)", body)
    assert b"<style" not in body and not re.search(rb"\sstyle=", body)
    assert not re.search(rb"\son[a-z]+=", body)
    for name, ctype in (("connect.js", "text/javascript; charset=utf-8"),
                        ("connect.css", "text/css; charset=utf-8")):
        st, hd, body = gw.request("GET", f"/v1/connect/{name}")
        assert st == 200 and hd["Content-Type"] == ctype
        with open(os.path.join(WWW, name), "rb") as f:
            assert body == f.read()
    settle()
    assert sess["session"] not in gw.logtext()
    assert sess["session"] not in stack.app.logtext()


def test_bad_session_says_so(stack, browser):
    browser.get(f"{stack.base}/v1/connect?session=drs_{'A' * 43}")
    text = visible(browser, "#error-text").text
    assert "not valid or has expired" in text
    assert browser.find_element(By.ID, "heading").text == "Cannot connect"
    assert "session=" not in browser.current_url
    # The dead session is forgotten: a reload does not try it again.
    assert browser.execute_script(f"return sessionStorage.getItem('{STORAGE_KEY}')") is None
    browser.refresh()
    assert "link the application gave you" in visible(browser, "#error-text").text
