"""A real headless Chromium driven by Selenium, against a real Junction server.

Debian's ``chromium`` and ``chromium-driver`` (scripts/install-system-deps.sh installs
them). Where they are absent the browser tests skip with the reason shown; with
JUNCTION_REQUIRE_BROWSER=1 or JUNCTION_REQUIRE_SANDBOX=1 (as .ci/run sets) they fail.
"""

from __future__ import annotations

import os
import shutil
import tempfile
from collections.abc import Callable, Iterator
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import pytest
from selenium import webdriver
from selenium.common.exceptions import NoSuchElementException, StaleElementReferenceException
from selenium.webdriver.chrome.service import Service
from selenium.webdriver.common.by import By
from selenium.webdriver.remote.webelement import WebElement
from selenium.webdriver.support.ui import WebDriverWait

from tests.conftest import Junction

REQUIRE_BROWSER = (
    os.environ.get("JUNCTION_REQUIRE_BROWSER") == "1"
    or os.environ.get("JUNCTION_REQUIRE_SANDBOX") == "1"
)
CHROMIUM_FLAGS = [
    "--headless",
    "--no-sandbox",  # Chromium refuses to start as root with its own sandbox
    "--disable-gpu",
    "--disable-quic",
    "--no-first-run",
    "--disable-background-networking",
    "--disable-component-update",
    "--disable-sync",
    "--disable-dev-shm-usage",
    "--window-size=1280,900",
]


def _find(*names: str) -> str | None:
    for name in names:
        found = shutil.which(name) or (
            f"/usr/bin/{name}" if Path(f"/usr/bin/{name}").exists() else None
        )
        if found:
            return found
    return None


@dataclass
class Console:
    """A signed-out browser tab on one Junction server, with helpers for the tests."""

    driver: webdriver.Chrome
    junction: Junction
    downloads: Path
    shots: Path

    @property
    def base(self) -> str:
        return f"{self.junction.url}/console/"

    def open(self, hash_: str = "") -> None:
        self.driver.get(self.base + hash_)

    def sign_in(self, key: str | None = None) -> None:
        self.open()
        field = self.wait_for("#api-key")
        field.clear()
        field.send_keys(key or self.junction.api_key)
        self.driver.find_element(By.ID, "signin-button").click()

    def go(self, hash_: str) -> None:
        self.driver.execute_script("location.hash = arguments[0]", hash_)

    def wait(self, condition: Callable[[webdriver.Chrome], Any], timeout: float = 20) -> Any:
        # The console re-renders parts of a page as events arrive: an element found by one
        # poll may be replaced before it is read. That poll did not see the page; the
        # next one looks again (the condition itself is unchanged).
        return WebDriverWait(
            self.driver,
            timeout,
            poll_frequency=0.1,
            ignored_exceptions=(NoSuchElementException, StaleElementReferenceException),
        ).until(condition)

    def wait_for(self, css: str, timeout: float = 20) -> WebElement:
        return self.wait(lambda d: d.find_element(By.CSS_SELECTOR, css), timeout)  # type: ignore[no-any-return]

    def text_of(self, css: str) -> str:
        return str(self.driver.find_element(By.CSS_SELECTOR, css).text)

    def all(self, css: str) -> list[WebElement]:
        return list(self.driver.find_elements(By.CSS_SELECTOR, css))

    def screenshot(self, name: str) -> Path:
        path = self.shots / f"{name}.png"
        self.driver.save_screenshot(str(path))
        return path

    def csp_violations(self) -> list[str]:
        return [
            str(e["message"])
            for e in self.driver.get_log("browser")
            if "Content Security Policy" in str(e["message"])
        ]


@pytest.fixture(scope="session")
def chrome_paths() -> tuple[str, str]:
    chromium = _find("chromium", "chromium-browser")
    driver = _find("chromedriver", "chromium-driver")
    if not chromium or not driver:
        reason = (
            "chromium and chromium-driver are not installed "
            "(run scripts/install-system-deps.sh as root)"
        )
        if REQUIRE_BROWSER:
            pytest.fail(f"a browser is required (JUNCTION_REQUIRE_BROWSER=1): {reason}")
        pytest.skip(reason)
    return chromium, driver


@pytest.fixture
def console(chrome_paths: tuple[str, str], junction: Junction, tmp_path: Path) -> Iterator[Console]:
    chromium, driver_path = chrome_paths
    downloads = tmp_path / "downloads"
    downloads.mkdir()
    profile = tempfile.mkdtemp(prefix="chromium-", dir=tmp_path)
    options = webdriver.ChromeOptions()
    options.binary_location = chromium
    for flag in [*CHROMIUM_FLAGS, f"--user-data-dir={profile}"]:
        options.add_argument(flag)
    options.add_experimental_option(
        "prefs",
        {"download.default_directory": str(downloads), "download.prompt_for_download": False},
    )
    options.set_capability("goog:loggingPrefs", {"browser": "ALL"})
    driver = webdriver.Chrome(service=Service(driver_path), options=options)
    driver.execute_cdp_cmd(
        "Browser.setDownloadBehavior", {"behavior": "allow", "downloadPath": str(downloads)}
    )
    try:
        yield Console(driver, junction, downloads, tmp_path)
    finally:
        driver.quit()
