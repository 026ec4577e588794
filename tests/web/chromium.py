"""Debian's headless Chromium driven by selenium through Debian's chromedriver (no driver download: the service
path is given, so Selenium Manager never runs), for the real-browser tests of `pictod web`."""

from __future__ import annotations

import contextlib
import shutil
import tempfile
from collections.abc import Callable, Iterator
from pathlib import Path
from typing import Any

from harness import expect
from selenium import webdriver
from selenium.common.exceptions import StaleElementReferenceException, WebDriverException
from selenium.webdriver.chrome.service import Service
from selenium.webdriver.common.by import By
from selenium.webdriver.remote.webdriver import WebDriver

CHROMIUM = Path("/usr/bin/chromium")
CHROMEDRIVER = Path("/usr/bin/chromedriver")
# As the machine notes say: without the background-networking flags Chromium keeps trying hosts it cannot reach.
FLAGS = ("--headless", "--no-sandbox", "--disable-gpu", "--disable-quic", "--no-first-run",
         "--disable-background-networking", "--disable-component-update", "--disable-sync",
         "--disable-dev-shm-usage")


@contextlib.contextmanager
def chromium(width: int = 1280, height: int = 900, *, javascript: bool = True,
             flags: tuple[str, ...] = ()) -> Iterator[WebDriver]:
    """A fresh headless Chromium with its own profile (so its own cookies), window width x height, and any extra
    command-line flags; with javascript=False, scripts are off (the pages as they work without JavaScript)."""
    assert CHROMIUM.exists() and CHROMEDRIVER.exists(), "tools/ci_prereqs.sh installs chromium and chromium-driver"
    options = webdriver.ChromeOptions()
    options.binary_location = str(CHROMIUM)
    profile = tempfile.mkdtemp(prefix="pictod-chromium-")
    for flag in (*FLAGS, f"--window-size={width},{height}", f"--user-data-dir={profile}", *flags):
        options.add_argument(flag)
    options.set_capability("goog:loggingPrefs", {"browser": "ALL"})
    if not javascript:
        options.add_experimental_option("prefs", {"profile.managed_default_content_settings.javascript": 2})
    driver = webdriver.Chrome(service=Service(executable_path=str(CHROMEDRIVER)), options=options)
    try:
        driver.set_page_load_timeout(60)
        if width < 500:  # headless Chromium keeps its window at least 500 px wide: emulate the narrower screen
            driver.execute_cdp_cmd("Emulation.setDeviceMetricsOverride",  # type: ignore[attr-defined]
                                   {"width": width, "height": height, "deviceScaleFactor": 1, "mobile": False})
        yield driver
    finally:
        driver.quit()
        shutil.rmtree(profile, ignore_errors=True)


def open_page(driver: WebDriver, base: str, path: str) -> None:
    """Load a page of the app and wait until it and its images are there."""
    driver.get(base + path)
    expect(lambda: driver.execute_script(
        "return document.readyState === 'complete' && "
        "Array.from(document.images).every(i => i.complete && i.naturalWidth > 0)"),
        timeout=60, what=f"{path} and its images loaded")


def submit(driver: WebDriver, act: Callable[[], Any]) -> None:
    """Do what loads another page (`act`: a form posted with scripts off, a link clicked or Enter pressed on it,
    a merge the script reloads the page after) and wait for that page: the old document gone (its <html> stale),
    the new one loaded. Waiting only for an element the answer shows would accept the old page when it already
    had one (a second wrong name typed into the same box); reading the page at once would read the old one, or
    one half loaded (a click returns before the navigation it starts)."""
    old = driver.find_element(By.TAG_NAME, "html")
    act()

    def replaced() -> bool:
        try:
            old.is_enabled()
        except StaleElementReferenceException:
            pass
        except WebDriverException:  # between two pages
            return False
        else:
            return False
        try:
            return bool(driver.execute_script("return document.readyState === 'complete'"))
        except WebDriverException:  # between two pages (the new document's context not there yet)
            return False
    until(replaced, "the page the post came back with")


def until(check: Callable[[], Any], what: str, timeout: float = 60) -> Any:
    """Poll a browser-side condition (60 s: on a loaded machine a page's fetches, or a daemon's tick behind
    them, can take far longer than they do alone; a condition that holds returns at once)."""
    return expect(check, timeout=timeout, interval=0.2, what=what)


# Every message put in #toast, kept from the start of each document (the page removes its messages after a few
# seconds: one shown as a page loads can be gone before a poll that waited for the load reads it). The elements
# are kept, so their text can be read after they left the page.
_RECORD_TOASTS = """(() => {
window.pictodToasts = [];
const seen = new Set();
new MutationObserver(ms => ms.forEach(m => m.addedNodes.forEach(n => {
  if (n.nodeType !== 1) return;
  for (const p of n.matches('#toast p') ? [n] : n.querySelectorAll('#toast p')) {
    if (!seen.has(p)) { seen.add(p); window.pictodToasts.push(p); }
  }
}))).observe(document, {childList: true, subtree: true});
})();"""


def record_toasts(driver: WebDriver) -> None:
    """From the next page on, every page keeps the messages it shows (`toasts`)."""
    driver.execute_cdp_cmd("Page.addScriptToEvaluateOnNewDocument", {"source": _RECORD_TOASTS})  # type: ignore[attr-defined]


def toasts(driver: WebDriver) -> list[str]:
    """The messages this page showed since it loaded (`record_toasts`), gone ones too; [] between two pages."""
    try:
        return list(driver.execute_script("return (window.pictodToasts || []).map(p => p.textContent)"))
    except WebDriverException:  # between two pages
        return []


def fetch_json(driver: WebDriver, path: str) -> Any:
    """A GET with Accept: application/json from inside the page (the browser's session cookie)."""
    return driver.execute_async_script(
        "const done = arguments[arguments.length - 1];"
        "fetch(arguments[0], {headers: {Accept: 'application/json'}, credentials: 'same-origin'})"
        ".then(r => r.json()).then(done, e => done({error: String(e)}));", path)


def console_errors(driver: WebDriver) -> list[dict[str, Any]]:
    """A CSP violation, a failed asset or a script error shows up here."""
    return [e for e in driver.get_log("browser") if e["level"] == "SEVERE"]


def config_for(built: Any, web: str = "") -> Path:
    """A config file for a library made by web_helpers.build_library (for `pictod web` as a subprocess); `web`:
    more lines of its [web] table."""
    config = built.root / "config.toml"
    config.write_text(f'[library]\nfolders = ["{built.paths[0].parent}"]\ndatabase = "{built.cfg.database_path}"\n'
                      f'[log]\nformat = "json"\n[web]\nthumbnail_cache_mb = 8\n{web}')
    return config


def sign_in(driver: WebDriver, url: str) -> None:
    """Open a sign-in address (token -> session cookie -> the page without the token)."""
    driver.get(url)
    until(lambda: "token=" not in driver.current_url, "signed in")


def text_of(driver: WebDriver, css: str) -> str:
    """The text of the first element matching `css` ('' if none), read in the page: safe while it reloads."""
    try:
        return str(driver.execute_script(
            "const e = document.querySelector(arguments[0]); return e ? e.textContent : '';", css))
    except WebDriverException:  # between two pages
        return ""


def fresh_link(config: Path) -> str:
    """A new sign-in address from the running `pictod web` of this config (`pictod web link`, a real process)."""
    from web_helpers import cli_json

    return str(cli_json("web", "link", "--config", str(config))["url"])
