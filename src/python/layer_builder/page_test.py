"""The page in a real browser: Debian's Chromium, driven by Debian's ChromeDriver; and the page
against a hostile API, which it must not use before the person confirms it nor let run script."""

import base64
import hashlib
import json
import re
import threading
from collections.abc import Iterator
from email.message import Message
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from pathlib import Path
from typing import Any

import pytest
from layer_builder.local import page, serve
from layer_builder.service import Settings
from selenium import webdriver
from selenium.webdriver.chrome.service import Service
from selenium.webdriver.common.by import By
from selenium.webdriver.support.ui import Select, WebDriverWait

CHROMIUM, CHROMEDRIVER = "/usr/bin/chromium", "/usr/bin/chromedriver"
XSS = "<img src=x onerror=window.__xss=1>"


@pytest.fixture
def browser(tmp_path: Path) -> Iterator[webdriver.Chrome]:
    if not (Path(CHROMIUM).exists() and Path(CHROMEDRIVER).exists()):
        pytest.fail("The page test needs Debian's `chromium` and `chromium-driver` packages")
    options = webdriver.ChromeOptions()
    options.binary_location = CHROMIUM
    for flag in (
        "--headless=new",
        "--no-sandbox",
        "--disable-gpu",
        "--disable-quic",
        "--no-first-run",
        "--disable-background-networking",
        "--disable-component-update",
        "--disable-sync",
        f"--user-data-dir={tmp_path / 'profile'}",
    ):
        options.add_argument(flag)
    options.add_experimental_option(
        "prefs", {"download.default_directory": str(tmp_path / "downloads")}
    )
    driver = webdriver.Chrome(options=options, service=Service(executable_path=CHROMEDRIVER))
    yield driver
    driver.quit()


def test_build_a_layer_from_the_page(
    browser: webdriver.Chrome, tmp_path: Path, pex_settings
) -> None:
    server, local = serve(tmp_path / "data", "127.0.0.1", 0, Settings(pex=pex_settings), 1)
    try:
        browser.get(f"http://127.0.0.1:{server.server_address[1]}/")
        wait = WebDriverWait(browser, 300)
        wait.until(lambda b: b.find_elements(By.CSS_SELECTOR, "input[name=architecture]"))

        requirements = browser.find_element(By.ID, "requirements")
        requirements.clear()
        requirements.send_keys("six==1.16.0\nidna==3.7")
        Select(browser.find_element(By.ID, "python-version")).select_by_value("3.13")
        browser.find_element(By.CSS_SELECTOR, "input[value=x86_64]").click()  # arm64 only
        browser.find_element(By.ID, "single-file").click()  # a zip per package
        browser.find_element(By.ID, "submit").click()

        wait.until(lambda b: b.find_element(By.ID, "status").text in ("COMPLETED", "FAILED"))
        assert browser.find_element(By.ID, "status").text == "COMPLETED"
        rows = browser.find_elements(By.CSS_SELECTOR, "#files tbody tr")
        shown = {r.find_element(By.TAG_NAME, "a").text: r.text for r in rows}
        assert sorted(shown) == ["idna-python3.13-arm64.zip", "six-python3.13-arm64.zip"]
        assert "Download links work until" in browser.find_element(By.ID, "expiry").text

        link = browser.find_element(By.LINK_TEXT, "six-python3.13-arm64.zip")
        link.click()
        download = tmp_path / "downloads" / "six-python3.13-arm64.zip"
        WebDriverWait(browser, 30).until(lambda _: download.is_file())
        digest = hashlib.sha256(download.read_bytes()).hexdigest()
        assert digest in shown["six-python3.13-arm64.zip"]
        assert f"{download.stat().st_size / 1024:.1f} KiB" in shown["six-python3.13-arm64.zip"]

        # A request the API refuses shows its problems.
        requirements.clear()
        requirements.send_keys("--index-url https://evil.example/simple")
        browser.find_element(By.ID, "submit").click()
        wait.until(lambda b: b.find_element(By.ID, "status").text == "REJECTED")
        assert "pip options" in browser.find_element(By.ID, "message").text
    finally:
        server.shutdown()
        local.queue.shutdown()


def csp_directives(html: str) -> dict[str, list[str]]:
    (policy,) = re.findall(r'<meta http-equiv="Content-Security-Policy" content="([^"]+)">', html)
    return {d.split()[0]: d.split()[1:] for d in policy.split(";")}


def inline_hash(html: str, tag: str) -> str:
    (body,) = re.findall(rf"<{tag}>(.*?)</{tag}>", html, re.S)
    return f"'sha256-{base64.b64encode(hashlib.sha256(body.encode()).digest()).decode()}'"


def test_the_policy_allows_only_the_pages_own_script_and_style() -> None:
    html = page().decode()
    assert csp_directives(html) == {
        "default-src": ["'self'"],
        "script-src": [inline_hash(html, "script")],  # so an edit of the script updates the hash
        "style-src": [inline_hash(html, "style")],
        "connect-src": ["'self'", "https:", "http://127.0.0.1:*", "http://localhost:*"],
        "object-src": ["'none'"],
        "base-uri": ["'none'"],
        "form-action": ["'none'"],
    }
    assert html.index("Content-Security-Policy") < html.index("<style>")  # it covers all after it
    assert "innerHTML" not in html and "insertAdjacentHTML" not in html
    assert not re.search(r"<[^>]+\son\w+=", html), "no inline event handlers"


class HostileApi:
    """An API on 127.0.0.1 whose every answer carries markup and a `javascript:` download link;
    it records each request it gets. The build of requirements `stuck` stays QUEUED; the build of
    `down` answers 503."""

    def __init__(self) -> None:
        self.requests: list[tuple[str, str, Message]] = []
        api = self

        class Handler(BaseHTTPRequestHandler):
            def do_OPTIONS(self) -> None:
                api.requests.append(("OPTIONS", self.path, self.headers))
                self._send(204, None)

            def do_GET(self) -> None:
                api.requests.append(("GET", self.path, self.headers))
                path = self.path.split("?")[0]
                if path == "/options":
                    self._send(200, {"python_versions": ["3.13"], "architectures": [XSS, "arm64"]})
                elif path == "/builds/stuck":
                    self._send(200, {"build_id": "stuck", "status": "QUEUED"})
                elif path == "/builds/down":
                    self._send(503, {"error": "down"})
                else:
                    self._send(200, api.hostile_build())

            def do_POST(self) -> None:
                api.requests.append(("POST", self.path, self.headers))
                body = json.loads(self.rfile.read(int(self.headers["Content-Length"])))
                build_id = (
                    body["requirements"] if body["requirements"] in ("stuck", "down") else XSS
                )
                self._send(202, {"build_id": build_id, "status": "QUEUED", "expires_at": 1})

            def _send(self, status: int, answer: Any) -> None:
                body = b"" if answer is None else json.dumps(answer).encode()
                self.send_response(status)
                self.send_header("Access-Control-Allow-Origin", "*")
                self.send_header("Access-Control-Allow-Methods", "GET, POST")
                self.send_header("Access-Control-Allow-Headers", "content-type, authorization")
                self.send_header("Content-Type", "application/json")
                self.send_header("Content-Length", str(len(body)))
                self.end_headers()
                self.wfile.write(body)

            def log_message(self, format: str, *args) -> None:
                pass

        self.server = ThreadingHTTPServer(("127.0.0.1", 0), Handler)
        self.url = f"http://127.0.0.1:{self.server.server_address[1]}"

    @staticmethod
    def hostile_build() -> dict[str, Any]:
        file = {"filename": "f.zip", "download_url_expires_at": 2_000_000_000}
        return {
            "build_id": XSS,
            "status": "COMPLETED",
            "expires_at": 2_000_000_000,
            "warnings": [XSS],
            "files": [
                {
                    **file,
                    "filename": XSS,
                    "architecture": XSS,
                    "size": XSS,
                    "sha256": XSS,
                    "download_url": "javascript:window.__xss=1",
                },
                {
                    **file,
                    "architecture": "arm64",
                    "size": 2048,
                    "sha256": "ab" * 32,
                    "download_url": "https://example.invalid/f.zip",
                },
            ],
        }

    def seen(self, method: str, path: str) -> list[Message]:
        return [headers for m, p, headers in self.requests if (m, p) == (method, path)]


@pytest.fixture
def hostile_api() -> Iterator[HostileApi]:
    api = HostileApi()
    threading.Thread(target=api.server.serve_forever, daemon=True).start()
    yield api
    api.server.shutdown()


@pytest.fixture
def page_url(tmp_path: Path, pex_settings) -> Iterator[str]:
    """The page on the embedded service (no build runs on it here)."""
    server, local = serve(tmp_path / "data", "127.0.0.1", 0, Settings(pex=pex_settings), 1)
    yield f"http://127.0.0.1:{server.server_address[1]}/"
    server.shutdown()
    local.queue.shutdown()


def architectures(browser: webdriver.Chrome) -> list[str]:
    names: list[str] = browser.execute_script(
        "return [...document.querySelectorAll('input[name=architecture]')].map((b) => b.value)"
    )
    return names


def use_linked_api(browser: webdriver.Chrome, page_url: str, api: HostileApi) -> None:
    """Open the page with `?api=` and confirm that API."""
    browser.get(f"{page_url}?api={api.url}")
    WebDriverWait(browser, 30).until(lambda b: architectures(b))
    browser.find_element(By.ID, "use-offered-api").click()
    WebDriverWait(browser, 30).until(lambda b: XSS in architectures(b))


def submit(browser: webdriver.Chrome, requirements: str) -> None:
    field = browser.find_element(By.ID, "requirements")
    field.clear()
    field.send_keys(requirements)
    browser.find_element(By.ID, "submit").click()


def test_a_linked_api_is_used_only_once_confirmed_and_its_answers_stay_text(
    browser: webdriver.Chrome, page_url: str, hostile_api: HostileApi
) -> None:
    browser.get(f"{page_url}?api={hostile_api.url}")
    wait = WebDriverWait(browser, 30)
    wait.until(lambda b: architectures(b))
    assert architectures(browser) == ["x86_64", "arm64"]  # the page's own server's options
    assert browser.find_element(By.ID, "offered-api").text == hostile_api.url
    assert hostile_api.requests == []
    assert browser.execute_script("return localStorage.getItem('api')") is None

    browser.find_element(By.ID, "use-offered-api").click()
    wait.until(lambda b: XSS in architectures(b))
    assert browser.execute_script("return localStorage.getItem('api')") == hostile_api.url
    assert (
        "?" not in browser.current_url
        and not browser.find_element(By.ID, "api-offer").is_displayed()
    )
    browser.find_element(By.TAG_NAME, "summary").click()  # API settings
    token = browser.find_element(By.ID, "api-token")
    token.send_keys("t0ken")
    browser.find_element(By.ID, "api-url").click()  # `change` fires as the token field loses focus

    submit(browser, "six")
    wait.until(lambda b: b.find_element(By.ID, "status").text == "COMPLETED")
    (posted,) = hostile_api.seen("POST", "/builds")
    assert posted.get("Authorization") == "Bearer t0ken"
    assert "t0ken" not in browser.execute_script("return JSON.stringify(localStorage)")
    assert hostile_api.seen("GET", "/builds/%3Cimg%20src%3Dx%20onerror%3Dwindow.__xss%3D1%3E")

    assert browser.execute_script("return window.__xss") is None
    assert browser.find_elements(By.TAG_NAME, "img") == []
    assert browser.find_element(By.ID, "build-id").text == XSS
    hostile, fine = browser.find_elements(By.CSS_SELECTOR, "#files tbody tr")
    cells = [cell.text for cell in hostile.find_elements(By.TAG_NAME, "td")]
    assert cells[0].startswith(XSS) and "not an http(s) URL" in cells[0]
    assert cells[1:] == [XSS, XSS, XSS]
    assert hostile.find_elements(By.TAG_NAME, "a") == []
    links = [a.get_attribute("href") for a in browser.find_elements(By.TAG_NAME, "a")]
    assert links == ["https://example.invalid/f.zip"]
    assert XSS in browser.find_element(By.ID, "expiry").text

    # Choosing another API forgets the token.
    api_url = browser.find_element(By.ID, "api-url")
    api_url.clear()
    api_url.send_keys(page_url)
    browser.find_element(By.ID, "requirements").click()
    wait.until(lambda b: architectures(b) == ["x86_64", "arm64"])
    assert browser.execute_script("return sessionStorage.getItem('token')") is None


def test_the_policy_stops_injected_markup_from_running(
    browser: webdriver.Chrome, page_url: str
) -> None:
    browser.get(page_url)
    WebDriverWait(browser, 30).until(lambda b: architectures(b))
    browser.execute_script(
        "document.addEventListener('securitypolicyviolation',"
        " (e) => { window.__blocked = e.effectiveDirective; });"
        "const probe = document.createElement('div');"
        "probe.innerHTML = arguments[0];"
        "document.body.append(probe);",
        XSS.replace("src=x", "src=/nothing"),
    )
    WebDriverWait(browser, 10).until(lambda b: bool(b.execute_script("return window.__blocked")))
    assert browser.execute_script("return [window.__blocked, window.__xss]") == [
        "script-src-attr",
        None,
    ]


def test_polling_stops_after_failed_answers(
    browser, page_url: str, hostile_api: HostileApi
) -> None:
    use_linked_api(browser, page_url, hostile_api)
    submit(browser, "down")
    message = browser.find_element(By.ID, "message")
    WebDriverWait(browser, 60).until(lambda _: "stopped checking" in message.text)
    assert message.text == "The API did not answer 5 times in a row: stopped checking."
    assert len(hostile_api.seen("GET", "/builds/down")) == 5
    assert browser.find_element(By.ID, "check-again").is_displayed()


def test_polling_stops_after_twenty_minutes(
    browser, page_url: str, hostile_api: HostileApi
) -> None:
    fast_clock = "{ const now = Date.now; let skew = 0; Date.now = () => now() + (skew += 3e5); }"
    # Each reading of the page's clock is five minutes on.
    browser.execute_cdp_cmd("Page.addScriptToEvaluateOnNewDocument", {"source": fast_clock})
    use_linked_api(browser, page_url, hostile_api)
    submit(browser, "stuck")
    message = browser.find_element(By.ID, "message")
    WebDriverWait(browser, 60).until(lambda _: "Stopped checking" in message.text)
    assert message.text == "Stopped checking after 20 minutes: the build is still QUEUED."
    polls = len(hostile_api.seen("GET", "/builds/stuck"))
    assert polls < 10

    browser.find_element(By.ID, "check-again").click()
    WebDriverWait(browser, 30).until(
        lambda _: len(hostile_api.seen("GET", "/builds/stuck")) > polls
    )
