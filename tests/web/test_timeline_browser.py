"""The Photos page's timeline in a real browser (Debian's headless Chromium through its chromedriver, as
test_web_browser.py drives it) and without one (a plain HTTP client), against `pictod web` started as a
subprocess on a library of 151 real JPEGs over 18 months (`timeline_library.browsing_plan`): months newest first
with their counts, the next months loaded as the page scrolls, the scrubber's jumps by mouse and by keyboard,
facets that narrow (AND) with counts that follow, a photo reached from the keyboard; without JavaScript the pages
of months with their newer/older links cover the library once. Every answer is checked against the CLI
(`pictod photos --json`: the same photos, each in the month of its date by the CLI's rule)."""

from __future__ import annotations

import re
from collections import Counter
from collections.abc import Callable, Iterator
from pathlib import Path
from typing import Any
from urllib.parse import parse_qs, urlparse

import pytest
from chromium import chromium, console_errors, submit, until
from selenium.webdriver.common.action_chains import ActionChains
from selenium.webdriver.common.by import By
from selenium.webdriver.common.keys import Keys
from selenium.webdriver.remote.webdriver import WebDriver
from selenium.webdriver.remote.webelement import WebElement
from timeline_library import browsing_plan, build, write_config
from web_helpers import Browserless, WebProcess, cli_json, start_web, stop

MONTH_IDS = """return Array.from(document.querySelectorAll('section.month')).map(s => [s.dataset.month,
    Number(s.dataset.count), Array.from(s.querySelectorAll('ul.thumbs a')).map(a => Number(a.dataset.photo))])"""


@pytest.fixture(scope="module")
def config(tmp_path_factory: pytest.TempPathFactory) -> Path:
    root = tmp_path_factory.mktemp("timeline")
    built = build(root / "lib", browsing_plan())
    return write_config(built, root / "config.toml")


@pytest.fixture(scope="module")
def web(config: Path, tmp_path_factory: pytest.TempPathFactory) -> Iterator[WebProcess]:
    running = start_web(config, tmp_path_factory.mktemp("webproc"))
    yield running
    assert stop(running.proc) == 0, running.stderr.read_text()


@pytest.fixture(scope="module")
def browser(web: WebProcess) -> Iterator[WebDriver]:
    with chromium(800, 600) as driver:  # headless Chromium's own default window
        driver.get(web.sign_in_url())
        assert "token=" not in driver.current_url
        yield driver


def _cli(config: Path, *args: str) -> list[dict[str, Any]]:
    return cli_json("photos", *args, "--config", str(config))


def _by_month(hits: list[dict[str, Any]]) -> dict[str, set[int]]:
    """The CLI's photos grouped by the month of their date (`date`: EXIF capture time, else the file's)."""
    months: dict[str, set[int]] = {}
    for hit in hits:
        months.setdefault(hit["date"][:7], set()).add(hit["id"])
    return months


def _open(driver: WebDriver, web: WebProcess, path: str) -> None:
    driver.get(web.base + path)
    until(lambda: driver.execute_script("return document.readyState === 'complete' && "
                                         "document.getElementById('scrubber').classList.contains('collapsible')"),
           f"{path} and its script")


def _months(driver: WebDriver) -> list[tuple[str, int, list[int]]]:
    return [(m, n, ids) for m, n, ids in driver.execute_script(MONTH_IDS)]


def _top_below_header(driver: WebDriver, element: WebElement) -> float:
    return float(driver.execute_script(
        "return arguments[0].getBoundingClientRect().top - document.querySelector('header.top').offsetHeight",
        element))


def _tabuntil(driver: WebDriver, found: Callable[[WebElement], bool], limit: int = 80) -> WebElement:
    for _ in range(limit):
        ActionChains(driver).send_keys(Keys.TAB).perform()
        active = driver.switch_to.active_element
        if found(active):
            return active
    raise AssertionError("not reached with the Tab key")


def test_months_newest_first_with_their_counts(browser: WebDriver, web: WebProcess, config: Path) -> None:
    truth = _by_month(_cli(config))
    _open(browser, web, "/photos")
    months = _months(browser)
    assert [m for m, _n, _ids in months] == sorted(truth, reverse=True)  # every month, newest first
    assert {m: n for m, n, _ids in months} == {m: len(ids) for m, ids in truth.items()}
    headers = browser.find_elements(By.CSS_SELECTOR, "section.month h2")
    assert headers[0].text == "February 2025 40 photos" and headers[-1].text == "September 2023 7 photos"
    assert int(browser.find_element(By.ID, "photo-total").text.split()[0]) == sum(map(len, truth.values())) == 151
    # The first page came from the server (120 photos: whole months); the older months wait as placeholders.
    assert months[0][2] and not months[-1][2]
    assert len(browser.find_elements(By.CSS_SELECTOR, "section.month.placeholder")) >= 3
    assert "EXIF capture time" in browser.find_element(By.ID, "date-rule").text
    assert not console_errors(browser)


def test_scrolling_loads_the_next_months(browser: WebDriver, web: WebProcess, config: Path) -> None:
    truth = _by_month(_cli(config))
    _open(browser, web, "/photos")
    waiting = [m for m, _n, ids in _months(browser) if not ids]
    assert waiting, "months beyond the first page start empty"
    fetched = lambda: browser.execute_script(  # noqa: E731
        "return performance.getEntriesByType('resource').filter(e => e.name.includes('/photos/month?')).length")
    assert fetched() == 0
    for _ in range(80):  # down, a screen's half at a time, as a reader scrolls
        if all(len(ids) == n for _m, n, ids in _months(browser)):
            break
        browser.execute_script("window.scrollBy(0, 450)")
        until(lambda: browser.execute_script("return !document.querySelector('section.month[aria-busy]')"),
               "the month being loaded")
    until(lambda: all(len(ids) == n for _m, n, ids in _months(browser)), "every month filled while scrolling")
    assert fetched() >= len(waiting)  # one fetch per month at least (more for a month longer than a fetch)
    for month, _n, ids in _months(browser):
        assert set(ids) == truth[month] and len(ids) == len(set(ids)), month
    # The address follows the month in view (a reload, or back from a photo, opens it there).
    browser.execute_script("window.scrollTo(0, document.documentElement.scrollHeight)")
    until(lambda: browser.execute_script("return new URL(location.href).searchParams.get('month')") == "2023-09",
           "the last month in the address")
    assert not console_errors(browser)


def test_the_scrubber_jumps_to_a_month(browser: WebDriver, web: WebProcess, config: Path) -> None:
    truth = _by_month(_cli(config))
    _open(browser, web, "/photos")
    assert browser.find_element(By.CSS_SELECTOR, '#scrubber a[aria-current]').get_attribute("data-month") == "2025-02"
    browser.find_element(By.LINK_TEXT, "2023").click()  # the year: its newest month, and its months shown
    until(lambda: abs(_top_below_header(browser, browser.find_element(By.ID, "m-2023-12"))) < 30, "December 2023")
    browser.find_element(By.CSS_SELECTOR, '#scrubber a[data-month="2023-10"][data-count]').click()
    section = browser.find_element(By.ID, "m-2023-10")
    until(lambda: abs(_top_below_header(browser, section)) < 30, "October 2023 at the top")
    until(lambda: {m: set(ids) for m, _n, ids in _months(browser)}["2023-10"] == truth["2023-10"],
           "October 2023 filled")
    assert browser.switch_to.active_element == section.find_element(By.TAG_NAME, "h2")
    assert "month=2023-10" in browser.current_url
    assert browser.find_element(By.CSS_SELECTOR, '#scrubber a[aria-current]').get_attribute("data-month") == "2023-10"
    # Opened afresh at that address, the page starts at that month.
    _open(browser, web, "/photos?month=2023-10")
    until(lambda: abs(_top_below_header(browser, browser.find_element(By.ID, "m-2023-10"))) < 30,
           "the page opened at October 2023")
    assert not console_errors(browser)


def test_the_scrubber_by_keyboard(browser: WebDriver, web: WebProcess) -> None:
    _open(browser, web, "/photos")
    stops = browser.find_elements(By.CSS_SELECTOR, '#scrubber a[tabindex="0"]')
    assert len(stops) == 1 and stops[0].get_attribute("data-month") == "2025-02"  # one tab stop
    browser.find_element(By.TAG_NAME, "h1").click()
    link = _tabuntil(browser, lambda e: e.get_attribute("data-month") is not None and
                      e.find_element(By.XPATH, "ancestor::nav").get_attribute("id") == "scrubber")
    assert link.get_attribute("data-month") == "2025-02"
    keys = ActionChains(browser)
    keys.send_keys(Keys.ARROW_DOWN).perform()
    assert browser.switch_to.active_element.get_attribute("data-month") == "2025-01"
    keys.send_keys(Keys.PAGE_DOWN).perform()  # the next year
    assert browser.switch_to.active_element.get_attribute("data-month") == "2024-12"
    keys.send_keys(Keys.END).perform()
    assert browser.switch_to.active_element.get_attribute("data-month") == "2023-09"
    keys.send_keys(Keys.ARROW_UP).perform()
    assert browser.switch_to.active_element.get_attribute("data-month") == "2023-10"
    keys.send_keys(Keys.ENTER).perform()
    section = browser.find_element(By.ID, "m-2023-10")
    until(lambda: abs(_top_below_header(browser, section)) < 30, "October 2023 at the top")
    assert browser.switch_to.active_element == section.find_element(By.TAG_NAME, "h2")
    # From the month's heading, Tab goes on to its first photo.
    until(lambda: section.find_elements(By.CSS_SELECTOR, "ul.thumbs a"), "October's photos")
    keys.send_keys(Keys.TAB).perform()
    first = section.find_elements(By.CSS_SELECTOR, "ul.thumbs a")[0]
    assert browser.switch_to.active_element == first
    assert not console_errors(browser)


def _facet(browser: WebDriver, facet: str) -> dict[str, int]:
    return {a.get_attribute("data-value") or "": int(a.find_element(By.CSS_SELECTOR, ".count").get_attribute(
        "textContent") or 0) for a in browser.find_elements(By.CSS_SELECTOR, f'[data-facet="{facet}"] a')}


def test_a_facet_narrows_and_the_counts_change(browser: WebDriver, web: WebProcess, config: Path) -> None:
    _open(browser, web, "/photos")
    tags, people = _facet(browser, "tags"), _facet(browser, "people")
    assert tags["dog"] == len(_cli(config, "--tag", "dog")) and tags["cat"] == len(_cli(config, "--tag", "cat"))
    submit(browser, browser.find_element(By.CSS_SELECTOR, '[data-facet="tags"] a[data-value="dog"]').click)
    assert "tag=dog" in browser.current_url  # the dog page
    dogs = _cli(config, "--tag", "dog")
    assert int(browser.find_element(By.ID, "photo-total").text.split()[0]) == len(dogs) == tags["dog"]
    narrowed = _facet(browser, "people")
    assert narrowed != people and all(narrowed[p] <= people[p] for p in narrowed)
    for person, count in narrowed.items():
        pid = person.lstrip("#") if person.startswith("#") else person
        assert count == len(_cli(config, "--tag", "dog", "--person", pid)), person
    assert _facet(browser, "tags")["cat"] == len(_cli(config, "--tag", "dog", "--tag", "cat"))  # AND
    assert {i for _m, _n, ids in _months(browser) for i in ids} == {h["id"] for h in dogs}
    # A person besides (AND), then the dog taken out again: back to that person's photos.
    first = next(iter(narrowed))
    submit(browser, browser.find_element(By.CSS_SELECTOR, f'[data-facet="people"] a[data-value="{first}"]').click)
    assert "person=" in browser.current_url  # dog and the person
    pid = first.lstrip("#")
    both = _cli(config, "--tag", "dog", "--person", pid)
    assert int(browser.find_element(By.ID, "photo-total").text.split()[0]) == len(both) == narrowed[first]
    submit(browser, browser.find_element(By.CSS_SELECTOR, '[data-facet="tags"] a.chosen[data-value="dog"]').click)
    assert "tag=dog" not in browser.current_url  # the dog taken out
    assert int(browser.find_element(By.ID, "photo-total").text.split()[0]) == len(_cli(config, "--person", pid))
    assert not console_errors(browser)


def test_the_keyboard_reaches_a_photo(browser: WebDriver, web: WebProcess, config: Path) -> None:
    _open(browser, web, "/photos")  # a fresh page: Tab starts at its top
    skip = _tabuntil(browser, lambda e: e.get_attribute("class") == "skip")
    assert skip.text == "Skip to the photos"
    keys = ActionChains(browser)
    keys.send_keys(Keys.ENTER).perform()
    keys.send_keys(Keys.TAB).perform()
    first = browser.switch_to.active_element
    newest = _months(browser)[0][2]
    assert first.get_attribute("data-photo") == str(newest[0])
    keys.send_keys(Keys.ARROW_RIGHT).perform()
    assert browser.switch_to.active_element.get_attribute("data-photo") == str(newest[1])
    keys.send_keys(Keys.ARROW_DOWN).perform()  # a row down: as many photos on as there are columns
    columns = browser.execute_script("return getComputedStyle(document.querySelector('#m-2025-02 ul.thumbs'))"
                                     ".gridTemplateColumns.split(' ').length")
    assert browser.switch_to.active_element.get_attribute("data-photo") == str(newest[1 + columns])
    keys.send_keys(Keys.ARROW_LEFT).perform()
    submit(browser, keys.send_keys(Keys.ENTER).perform)
    assert urlparse(browser.current_url).path == f"/photos/{newest[columns]}"  # the photo page
    assert browser.find_element(By.TAG_NAME, "h1").text.startswith(f"Photo {newest[columns]}")
    assert not console_errors(browser)


def _page(html: str) -> tuple[list[tuple[str, int, list[int]]], str | None, str | None]:
    """A page without JavaScript: its months (id, count, photo ids) and its newer / older links."""
    months = []
    for section in re.finditer(r'<section class="month" id="m-([\d-]+)" data-month="[\d-]+" data-count="(\d+)"'
                               r'.*?</section>', html, re.S):
        ids = [int(i) for i in re.findall(r'data-photo="(\d+)"', section.group(0))]
        months.append((section.group(1), int(section.group(2)), ids))
    prev = re.search(r'<a rel="prev" href="([^"]+)"', html)
    nxt = re.search(r'<a rel="next" href="([^"]+)"', html)
    unescape = lambda m: m.group(1).replace("&amp;", "&") if m else None  # noqa: E731
    return months, unescape(prev), unescape(nxt)


def test_pages_without_javascript(web: WebProcess, config: Path) -> None:
    """A plain HTTP client: the pages of months from the newest, older / newer links through all of them, every
    photo once and in the month the CLI dates it; a scrubber link opens its month's page; a facet link narrows."""
    truth = _by_month(_cli(config))
    plain = Browserless(web)
    html = plain.get("/photos")
    assert "<script" in html and 'href="/photos?month=2023-10#m-2023-10"' in html  # the scrubber, as links
    seen: Counter[int] = Counter()
    order: list[str] = []
    path: str | None = "/photos"
    pages: list[str] = []
    while path is not None:
        pages.append(path)
        months, prev, nxt = _page(plain.get(path))
        assert months and sum(len(ids) for _m, _n, ids in months) <= 120
        if len(pages) > 1:
            assert prev is not None and _page(plain.get(prev))[2] == path  # newer, then older again: back here
        for month, count, ids in months:
            assert count == len(truth[month]) and set(ids) <= truth[month]
            seen.update(ids)
            if not order or order[-1] != month:
                order.append(month)
        path = nxt
    assert len(pages) == 2  # 151 photos, 120 a page at most
    assert order == sorted(truth, reverse=True)
    assert set(seen) == set().union(*truth.values()) and set(seen.values()) == {1}
    months, _prev, _nxt = _page(plain.get("/photos?month=2023-10"))
    assert "2023-10" in [m for m, _n, _ids in months]
    dogs = {h["id"] for h in _cli(config, "--tag", "dog")}
    dog_link = re.search(r'<a href="([^"]*tag=dog[^"]*)"[^>]*data-value="dog"', html)
    assert dog_link is not None
    months, _prev, _nxt = _page(plain.get(dog_link.group(1).replace("&amp;", "&")))
    assert {i for _m, _n, ids in months for i in ids} == dogs
    # The months of the script come one at a time from /photos/month, the next offset in a header.
    query = parse_qs(urlparse(dog_link.group(1)).query)
    assert query == {"tag": ["dog"]}
