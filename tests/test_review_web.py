"""The review mode of `pictod web` (issue 21) in the real browser: headless Chromium through the system
chromedriver (the harness of tests/web/test_web_browser.py), a library made by `pictod scan` of real crops in
which nothing clusters, `pictod web` as a subprocess. y, n, s and u on the review page, each answer checked
through the CLI (`pictod review list`, `pictod people show`) afterwards; "Might also be" on the person page and
"Who is this?" for an unknown face."""

from __future__ import annotations

import sys
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest
from harness import expect

sys.path.insert(0, str(Path(__file__).resolve().parent / "web"))
from chromium import submit
from test_review import scan_crops
from test_web_browser import browser  # noqa: F401  # the harness's browser, on this module's `web`
from web_helpers import WebProcess, cli_json, client, csrf_of, post, start_web, stop

from daemon import config as config_mod
from daemon.library import corrections
from daemon.store import Store

selenium = pytest.importorskip("selenium")
from selenium.webdriver.common.action_chains import ActionChains  # noqa: E402
from selenium.webdriver.common.by import By  # noqa: E402
from selenium.webdriver.remote.webdriver import WebDriver  # noqa: E402

WHO = ("John_Salley", "John_Savage")


@pytest.fixture(scope="module")
def library(tmp_path_factory: pytest.TempPathFactory) -> tuple[Path, int, dict[int, str]]:
    """4 crops of two people, nothing clustered; a person "Salley" made from one face."""
    root = tmp_path_factory.mktemp("review-web")
    config = scan_crops(root, WHO, 4, '[web]\nthumbnail_cache_mb = 8\n')
    with Store.open(root / "lib.db") as store:
        rows = store.read(lambda c: c.execute(
            "SELECT f.id, (SELECT path FROM files WHERE photo_id = f.photo_id) FROM faces f ORDER BY f.id").fetchall())
        truth = {int(f): Path(p.decode() if isinstance(p, bytes) else p).name.split("-")[0] for f, p in rows}
        seed = min(f for f, w in truth.items() if w == "John_Salley")
        person = corrections.new_person(store, [seed], name="Salley")
    return config, person, truth


@pytest.fixture(scope="module")
def web(library: tuple[Path, int, dict[int, str]], tmp_path_factory: pytest.TempPathFactory) -> Iterator[WebProcess]:
    running = start_web(library[0], tmp_path_factory.mktemp("webproc"))
    yield running
    assert stop(running.proc) == 0, running.stderr.read_text()


def review_list(config: Path, person: int) -> list[dict[str, Any]]:
    return cli_json("review", "list", str(person), "--config", str(config))  # type: ignore[no-any-return]


def person_faces(config: Path, person: int) -> list[int]:
    return [f["id"] for f in cli_json("people", "show", str(person), "--config", str(config))["face_list"]]


def shown(driver: WebDriver) -> int:
    return int(driver.find_element(By.ID, "review").get_attribute("data-current") or 0)


def settle(driver: WebDriver) -> None:
    """Every answer the page posted has been answered by the server."""
    expect(lambda: driver.execute_async_script(
        "const done = arguments[arguments.length - 1]; window.pictodReviewSettled().then(done);"),
        timeout=30, what="the review's posts answered")


def test_review_mode_answers_with_the_keyboard(browser: WebDriver, web: WebProcess,  # noqa: F811
                                               library: tuple[Path, int, dict[int, str]]) -> None:
    config, person, truth = library
    browser.get(web.base + f"/people/{person}")
    link = browser.find_element(By.ID, "might-also")
    assert link.text == f"Might also be Salley ({len(review_list(config, person))})"
    submit(browser, link.click)  # the review page, not the person page still there while it loads
    expect(lambda: browser.find_element(By.ID, "review").get_attribute("data-ready") == "yes", timeout=60,
           what="the review page's queue")
    expected = [c["face_id"] for c in review_list(config, person)]
    first = shown(browser)
    assert first == expected[0] and truth[first] == "John_Salley"
    keys = ActionChains(browser)
    keys.send_keys("y").perform()  # it is
    second = shown(browser)
    assert second != first and second != 0  # shown at once, from the prefetched queue
    keys.send_keys("n").perform()  # it is not
    third = shown(browser)
    keys.send_keys("s").perform()  # skip
    keys.send_keys("u").perform()  # undo the skip: the same face again
    assert shown(browser) == third
    settle(browser)
    assert first in person_faces(config, person)
    after = [c["face_id"] for c in review_list(config, person)]
    assert first not in after and second not in after and third in after
    assert not any(c["skipped"] for c in review_list(config, person))  # the skip was undone
    keys.send_keys("u").perform()  # undo the "no": that face is shown and offered again
    assert shown(browser) == second
    settle(browser)
    assert second in [c["face_id"] for c in review_list(config, person)]
    assert first in person_faces(config, person)
    bad = [e for e in browser.get_log("browser") if e["level"] == "SEVERE"]
    assert not bad, bad


def test_who_is_this_offers_the_nearest_people(browser: WebDriver, web: WebProcess,  # noqa: F811
                                               library: tuple[Path, int, dict[int, str]]) -> None:
    config, person, truth = library
    loose = [c["face_id"] for c in review_list(config, person) if truth[c["face_id"]] == "John_Salley"]
    browser.get(web.base + "/unknown")
    submit(browser, browser.find_element(By.CSS_SELECTOR, f'figure[data-face="{loose[0]}"] a.who-link').click)
    assert "/who" in browser.current_url  # the who page, loaded
    offered = browser.find_elements(By.CSS_SELECTOR, "ul.who li")
    assert [int(li.get_attribute("data-person") or 0) for li in offered][:1] == [person]
    offered[0].find_element(By.CSS_SELECTOR, "button").click()
    expect(lambda: loose[0] in person_faces(config, person), timeout=60, what="the face on Salley")


def test_the_review_pages_work_without_javascript(library: tuple[Path, int, dict[int, str]], tmp_path: Path) -> None:
    # The forms alone (no script): each answer redirects back to the next question; the JSON API and errors.
    config, person, _truth = library
    test = client(config_mod.load(config), tmp_path / "cache")
    try:
        page = test.get(f"/people/{person}/review")
        assert page.status_code == 200 and 'id="review-face"' in page.text
        first = int(page.text.split('data-current="')[1].split('"')[0])
        api = test.get(f"/api/people/{person}/review").json()
        assert api["ok"] and api["candidates"][0]["face_id"] == first
        csrf = csrf_of(test, f"/people/{person}/review")
        done = post(test, f"/people/{person}/review/answer", {"face": first, "verdict": "skip"}, csrf=csrf)
        assert done.status_code == 303 and done.headers["location"] == f"/people/{person}/review"
        after = test.get(f"/people/{person}/review").text
        if len(api["candidates"]) > 1:  # the skipped face comes last
            assert f'data-current="{first}"' not in after
        else:
            assert "skipped before" in after
        bad = post(test, f"/people/{person}/review/answer", {"face": first, "verdict": "maybe"}, csrf=csrf,
                   json_reply=True)
        assert bad.status_code == 400 and not bad.json()["ok"]
        undone = post(test, f"/people/{person}/review/undo", {}, csrf=csrf, json_reply=True)
        assert undone.json() == {"ok": True, "message": f"undone: face {first} skip", "face": first, "answer": "skip"}
        codes = [post(test, f"/people/{person}/review/undo", {}, csrf=csrf, json_reply=True).status_code
                 for _ in range(5)]  # the earlier tests' answers, then nothing left: 400
        assert codes[-1] == 400 and set(codes) <= {200, 400}
        assert post(test, f"/people/{person}/review/answer", {"face": first, "verdict": "yes"}, csrf=None,
                    json_reply=True).status_code == 403  # no CSRF token
        assert test.get("/people/999999/review").status_code == 404
        assert test.get(f"/faces/{first}/who").status_code == 200
    finally:
        test.__exit__(None, None, None)
