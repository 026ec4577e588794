"""`pictod web` in a real browser: Debian's headless Chromium driven by selenium through Debian's chromedriver
(no driver download: the service path is given, so Selenium Manager never runs), against a library scanned
by `pictod scan` from real photos and `pictod web` started as a subprocess. Each correction is checked through
the CLI. Screenshots of every page go to a temporary folder outside the repository (printed at the end)."""

from __future__ import annotations

import os
import shutil
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest
from chromium import CHROMEDRIVER, chromium, console_errors, open_page, submit, until
from pictod_testdata import FACE_RECOGNITION, JOHNS, SKIMAGE
from selenium.webdriver.common.action_chains import ActionChains
from selenium.webdriver.common.by import By
from selenium.webdriver.common.keys import Keys
from selenium.webdriver.remote.webdriver import WebDriver
from web_helpers import WebProcess, cli_json, pictod, start_web, stop


@pytest.fixture(scope="module")
def library(tmp_path_factory: pytest.TempPathFactory) -> Path:
    """A real library: `pictod scan` of three people's photos (Obama 3, two Johns 2 each), a cat, a loner."""
    root = tmp_path_factory.mktemp("browser")
    photos = root / "photos"
    photos.mkdir()
    sources = [FACE_RECOGNITION / n for n in ("obama.jpg", "obama2.jpg", "obama3.jpg", "biden.jpg")]
    sources += [SKIMAGE / "astronaut.png", SKIMAGE / "chelsea.png"]
    for john in ("John_Salley", "John_Savage"):
        sources += sorted((JOHNS / john).iterdir())[:2]
    for src in sources:
        shutil.copy(src, photos / src.name)
    (photos / "notes.jpg").write_text("not a photo at all")
    config = root / "config.toml"
    config.write_text('[library]\nfolders = ["photos"]\ndatabase = "lib.db"\n[log]\nformat = "json"\n'
                      '[web]\nthumbnail_cache_mb = 8\n')
    done = pictod("scan", "--config", str(config), "--json")
    assert done.returncode == 0, done.stderr
    return config


@pytest.fixture(scope="module")
def web(library: Path, tmp_path_factory: pytest.TempPathFactory) -> Iterator[WebProcess]:
    running = start_web(library, tmp_path_factory.mktemp("webproc"))
    yield running
    assert stop(running.proc) == 0, running.stderr.read_text()


@pytest.fixture(scope="module")
def shots(tmp_path_factory: pytest.TempPathFactory) -> Path:
    folder = Path(os.environ.get("PICTOD_WEB_SCREENSHOTS") or tmp_path_factory.mktemp("screenshots"))
    folder.mkdir(parents=True, exist_ok=True)
    print(f"\nscreenshots of pictod web: {folder}")
    return folder


@pytest.fixture(scope="module")
def browser(web: WebProcess) -> Iterator[WebDriver]:
    with chromium() as driver:
        driver.get(web.url)  # the printed address: token -> cookie -> the same page without the token
        assert "token=" not in driver.current_url
        yield driver


def _cli(library: Path, *args: str) -> Any:
    return cli_json(*args, "--config", str(library))


def _people(library: Path) -> list[dict[str, Any]]:
    return _cli(library, "people")


def _shot(driver: WebDriver, shots: Path, name: str) -> None:
    """The whole page, beyond the window (Chromium's own capture through the DevTools protocol)."""
    import base64

    shot = driver.execute_cdp_cmd("Page.captureScreenshot", {"format": "png", "captureBeyondViewport": True})  # type: ignore[attr-defined]
    (shots / f"{name}.png").write_bytes(base64.b64decode(shot["data"]))


def test_selenium_uses_the_system_driver(browser: WebDriver) -> None:
    assert browser.service.path == str(CHROMEDRIVER)  # type: ignore[attr-defined]
    assert browser.capabilities["browserName"] == "chrome"


def test_rename_a_person_inline(browser: WebDriver, web: WebProcess, library: Path, shots: Path) -> None:
    obama = max(_people(library), key=lambda p: p["faces"])
    assert obama["faces"] == 3
    open_page(browser, web.base, "/people")
    _shot(browser, shots, "people-before")
    field = browser.find_element(By.CSS_SELECTOR, f'li[data-person="{obama["id"]}"] [name="name"]')
    field.clear()
    field.send_keys("Barack Obama", Keys.ENTER)
    until(lambda: {p["id"]: p["name"] for p in _people(library)}[obama["id"]] == "Barack Obama", "the new name")
    assert browser.current_url.endswith("/people")  # saved in place, no reload
    open_page(browser, web.base, "/people")
    assert browser.find_element(By.CSS_SELECTOR, "li.card.named [name=name]").get_attribute("value") == \
        "Barack Obama"
    _shot(browser, shots, "people")
    assert not console_errors(browser)


def test_reject_a_face_with_the_keyboard(browser: WebDriver, web: WebProcess, library: Path, shots: Path) -> None:
    obama = next(p for p in _people(library) if p["name"] == "Barack Obama")
    open_page(browser, web.base, f"/people/{obama['id']}")
    _shot(browser, shots, "person")
    browser.find_element(By.TAG_NAME, "h1").click()
    actions = ActionChains(browser)
    actions.send_keys("j").perform()  # the first face
    first = browser.switch_to.active_element.get_attribute("data-face")
    assert first
    actions.send_keys("j").send_keys("k").perform()  # next and back
    assert browser.switch_to.active_element.get_attribute("data-face") == first
    actions.send_keys("x").perform()  # not this person
    until(lambda: next(p for p in _people(library) if p["id"] == obama["id"])["faces"] == 2, "the face rejected")
    detail = _cli(library, "people", "show", str(obama["id"]))
    assert int(first) not in [f["id"] for f in detail["face_list"]]
    assert not console_errors(browser)


def test_move_a_face_with_the_name_search(browser: WebDriver, web: WebProcess, library: Path, shots: Path) -> None:
    obama = next(p for p in _people(library) if p["name"] == "Barack Obama")
    open_page(browser, web.base, "/unknown")
    _shot(browser, shots, "unknown")
    tiles = browser.find_elements(By.CSS_SELECTOR, "figure.face")
    assert tiles, "the rejected face waits on the Unknown faces page"
    before = obama["faces"]
    field = tiles[0].find_element(By.CSS_SELECTOR, 'input[name="person"]')
    field.send_keys("bar")
    until(lambda: browser.execute_script(
        "return Array.from(document.querySelectorAll('#people-choices option')).map(o => o.value)") ==
        [f"Barack Obama #{obama['id']}"], "the name search offering Barack")
    field.send_keys(Keys.BACKSPACE * 3, f"Barack Obama #{obama['id']}", Keys.ENTER)
    until(lambda: next(p for p in _people(library) if p["id"] == obama["id"])["faces"] == before + 1,
           "the face moved onto Barack")
    assert not console_errors(browser)


def test_confirm_a_face(browser: WebDriver, web: WebProcess, library: Path) -> None:
    obama = next(p for p in _people(library) if p["name"] == "Barack Obama")
    open_page(browser, web.base, f"/people/{obama['id']}")
    browser.find_element(By.TAG_NAME, "h1").click()
    ActionChains(browser).send_keys("j").perform()
    face = int(browser.switch_to.active_element.get_attribute("data-face") or 0)
    ActionChains(browser).send_keys("a").perform()
    until(lambda: any(f["id"] == face and f["pinned"] for f in
                       _cli(library, "people", "show", str(obama["id"]))["face_list"]), "the face pinned")


def test_merge_two_people(browser: WebDriver, web: WebProcess, library: Path, shots: Path) -> None:
    johns = sorted((p for p in _people(library) if p["name"] is None and p["faces"] == 2), key=lambda p: p["id"])
    assert len(johns) >= 2, _people(library)
    keep, other = johns[0], johns[1]
    open_page(browser, web.base, f"/people/{keep['id']}")
    browser.find_element(By.ID, "merge-other").send_keys(f"#{other['id']}")
    # Merged in place, then reloaded by the script: that reload must be over before the next page is asked for
    # (a reload landing after it would replace it).
    submit(browser, browser.find_element(By.CSS_SELECTOR, "form.merge button").click)
    until(lambda: other["id"] not in [p["id"] for p in _people(library)], "the other person merged away")
    assert next(p for p in _people(library) if p["id"] == keep["id"])["faces"] == 4
    open_page(browser, web.base, f"/people/{keep['id']}")
    assert f"person {other['id']} merged into" in browser.find_element(By.ID, "toast").text or \
        browser.find_element(By.TAG_NAME, "h1").text.startswith("Unnamed person")
    assert not console_errors(browser)


def test_photos_photo_and_status_pages(browser: WebDriver, web: WebProcess, library: Path, shots: Path) -> None:
    obama = next(p for p in _people(library) if p["name"] == "Barack Obama")
    open_page(browser, web.base, f"/photos?person={obama['id']}")
    found = browser.find_elements(By.CSS_SELECTOR, "ul.thumbs a")
    assert len(found) == obama["photos"]
    found_href = found[0].get_attribute("href")
    _shot(browser, shots, "photos")
    submit(browser, found[0].click)  # the photo's page, not the list still there while it loads
    assert browser.current_url == found_href
    open_page(browser, web.base, browser.current_url.removeprefix(web.base))
    assert browser.find_elements(By.CSS_SELECTOR, "svg .face-box rect")
    assert browser.find_element(By.CSS_SELECTOR, "svg a[href^='/people/']")
    _shot(browser, shots, "photo")
    open_page(browser, web.base, "/status")
    text = browser.find_element(By.ID, "figures").text
    assert "not running" in text
    assert "notes.jpg" in browser.find_element(By.CSS_SELECTOR, "table.failed").text
    _shot(browser, shots, "status")
    assert not console_errors(browser)
