"""The page in a real browser: Debian's Chromium, driven by Debian's ChromeDriver."""

import hashlib
from collections.abc import Iterator
from pathlib import Path

import pytest
from layer_builder.local import serve
from layer_builder.service import Settings
from selenium import webdriver
from selenium.webdriver.chrome.service import Service
from selenium.webdriver.common.by import By
from selenium.webdriver.support.ui import Select, WebDriverWait

CHROMIUM, CHROMEDRIVER = "/usr/bin/chromium", "/usr/bin/chromedriver"


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


def test_build_a_layer_from_the_page(browser, tmp_path: Path, pex_settings) -> None:
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
