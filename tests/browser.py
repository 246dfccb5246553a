"""A headless Chromium for the tests that check what a person sees in the HTML report.

Selenium drives Debian's ``chromium`` through Debian's ``chromedriver``: the
two come from one package build, so their versions always match, and
Selenium is given the driver's path so it never tries to download one.
Where no browser exists the tests skip, saying what to install; with
``CONVBUDGET_REQUIRE_BROWSER=1`` (set by ``.ci/run``) they fail instead, so
CI can never pass by skipping them.
"""

from __future__ import annotations

import json
import os
import shutil
from contextlib import contextmanager
from pathlib import Path
from typing import Any, Iterator

import pytest

BROWSERS = ("chromium", "chromium-browser", "google-chrome")
DRIVERS = ("chromedriver",)
WINDOW = (1400, 1000)
INSTALL_HINT = "apt-get install -y chromium chromium-driver (.ci/run does this)"


def _first_on_path(names: tuple[str, ...], variable: str) -> str | None:
    override = os.environ.get(variable)
    if override:
        return override if Path(override).exists() else None
    return next((found for found in map(shutil.which, names) if found), None)


def _unavailable(reason: str) -> None:
    if os.environ.get("CONVBUDGET_REQUIRE_BROWSER") == "1":
        pytest.fail(f"{reason}, and CONVBUDGET_REQUIRE_BROWSER=1 says this run must have one")
    pytest.skip(reason)


def start_browser() -> Any:
    """A headless Chromium that logs console messages and network events, or a skip."""
    try:
        from selenium import webdriver
        from selenium.webdriver.chrome.service import Service
    except ImportError:
        _unavailable("selenium is not installed (pip install -e '.[test]')")
    binary = _first_on_path(BROWSERS, "CONVBUDGET_CHROMIUM")
    driver = _first_on_path(DRIVERS, "CONVBUDGET_CHROMEDRIVER")
    if binary is None or driver is None:
        _unavailable(f"no Chromium with its chromedriver found: {INSTALL_HINT}")
    options = webdriver.ChromeOptions()
    options.binary_location = binary
    for argument in ("--headless=new", "--no-sandbox", "--disable-dev-shm-usage", "--disable-gpu",
                     f"--window-size={WINDOW[0]},{WINDOW[1]}", "--hide-scrollbars"):
        options.add_argument(argument)
    options.set_capability("goog:loggingPrefs", {"browser": "ALL", "performance": "ALL"})
    return webdriver.Chrome(service=Service(executable_path=driver), options=options)


def browser_fixture() -> Iterator[Any]:
    """Body of a module-scoped fixture: one browser session for a whole test module."""
    driver = start_browser()
    try:
        yield driver
    finally:
        driver.quit()


def open_page(driver: Any, path: Path) -> None:
    """Load ``path`` from disk, after dropping the logs of earlier pages."""
    driver.get_log("browser")
    driver.get_log("performance")
    driver.get(path.resolve().as_uri())


@contextmanager
def window_width(driver: Any, width: int) -> Iterator[None]:
    """The window ``width`` CSS pixels wide (scrollbars take no room: ``--hide-scrollbars``), then as before."""
    driver.set_window_size(width, WINDOW[1])
    try:
        yield
    finally:
        driver.set_window_size(*WINDOW)


def wait_for(driver: Any, css: str, seconds: float = 10.0) -> Any:
    """The element ``css`` selects, once the page has drawn it (``toggle`` and ``hashchange`` run later)."""
    from selenium.webdriver.support.ui import WebDriverWait

    return WebDriverWait(driver, seconds).until(lambda page: page.find_element("css selector", css))


def console_messages(driver: Any) -> list[dict[str, Any]]:
    """Everything the page logged: console calls, script errors, failed loads."""
    return driver.get_log("browser")


def requested_urls(driver: Any) -> list[str]:
    """Every URL the page asked the network layer for since it was opened."""
    urls = []
    for entry in driver.get_log("performance"):
        message = json.loads(entry["message"])["message"]
        if message["method"] == "Network.requestWillBeSent":
            urls.append(message["params"]["request"]["url"])
    return urls
