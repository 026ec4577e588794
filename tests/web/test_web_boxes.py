"""An unknown (or ambiguous) name in the merge or move box is answered on the same page, the typed text kept:
without JavaScript (the form post comes back to the page with the message beside the box) and with it (in
place, no reload). A real `pictod web` and a real Chromium, scripts off and on; the library checked by the CLI."""

from __future__ import annotations

from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest
from chromium import chromium, config_for, open_page, record_toasts, sign_in, submit, toasts, until
from pictod_testdata import FACE_RECOGNITION, SKIMAGE
from selenium.webdriver.common.by import By
from selenium.webdriver.common.keys import Keys
from web_helpers import Shot, WebProcess, build_library, cli_json, start_web, stop

SHOTS = [Shot(FACE_RECOGNITION / "obama.jpg", who=(0,)), Shot(FACE_RECOGNITION / "obama2.jpg", who=(0,)),
         Shot(FACE_RECOGNITION / "obama3.jpg", who=(0, 1)), Shot(FACE_RECOGNITION / "biden.jpg", who=(1,)),
         Shot(SKIMAGE / "astronaut.png", who=(2,))]


@pytest.fixture
def served(tmp_path: Path) -> Iterator[tuple[Path, WebProcess, Any]]:
    built = build_library(tmp_path / "lib", SHOTS)
    config = config_for(built)
    web = start_web(config, tmp_path)
    yield config, web, built
    assert stop(web.proc) == 0, web.stderr.read_text()


def _people(config: Path) -> list[dict[str, Any]]:
    return list(cli_json("people", "--config", str(config)))


def _ids(config: Path) -> tuple[int, int]:
    big, small = sorted(_people(config), key=lambda p: -p["faces"])
    return big["id"], small["id"]


def test_without_javascript_the_post_comes_back_with_the_message_and_the_text(
        served: tuple[Path, WebProcess, Any]) -> None:
    config, web, built = served
    big, small = _ids(config)
    before = _people(config)
    with chromium(javascript=False) as driver:
        sign_in(driver, web.url)
        open_page(driver, web.base, f"/people/{big}")
        assert not driver.execute_script("return document.documentElement.classList.contains('js')")
        for typed, said in (("Nobody Such", "nobody is called 'Nobody Such'"), ("#99999", "no person with id 99999")):
            box = driver.find_element(By.ID, "merge-other")
            box.clear()
            box.send_keys(typed)
            submit(driver, driver.find_element(By.CSS_SELECTOR, "form.merge button").click)
            until(lambda: driver.find_elements(By.ID, "merge-error"), "the page back with the message")
            assert driver.current_url == f"{web.base}/people/{big}"
            assert driver.find_element(By.TAG_NAME, "h1").text.startswith("Unnamed person")  # the person, no 404
            assert said in driver.find_element(By.ID, "merge-error").text
            assert driver.find_element(By.ID, "merge-other").get_attribute("value") == typed
            assert said in driver.find_element(By.ID, "toast").text
        # Shown once: a reload is the plain page again.
        open_page(driver, web.base, f"/people/{big}")
        assert not driver.find_elements(By.ID, "merge-error")
        assert driver.find_element(By.ID, "merge-other").get_attribute("value") == ""
        # The move box of a face on the Unknown faces page.
        loner = built.faces[4][0]
        open_page(driver, web.base, "/unknown")
        tile = driver.find_element(By.ID, f"face-{loner}")
        submit(driver, lambda: tile.find_element(By.CSS_SELECTOR, 'input[name="person"]').send_keys("Zed", Keys.ENTER))
        until(lambda: driver.find_elements(By.ID, f"move-error-{loner}"), "the Unknown page back with the message")
        assert driver.current_url == f"{web.base}/unknown#face-{loner}"
        assert "nobody is called 'Zed'" in driver.find_element(By.ID, f"move-error-{loner}").text
        field = driver.find_element(By.CSS_SELECTOR, f'#face-{loner} input[name="person"]')
        assert field.get_attribute("value") == "Zed" and field.get_attribute("aria-invalid") == "true"
        # A good name in the same box still works, and the message goes.
        field.clear()
        submit(driver, lambda: field.send_keys(f"#{small}", Keys.ENTER))
        assert not driver.find_elements(By.ID, f"face-{loner}")  # the face moved away
        assert not driver.find_elements(By.CSS_SELECTOR, ".box-error")
    after = {p["id"]: p for p in _people(config)}
    assert after[small]["faces"] == next(p for p in before if p["id"] == small)["faces"] + 1
    assert after[big] == next(p for p in before if p["id"] == big)


def test_with_javascript_the_message_is_shown_in_place(served: tuple[Path, WebProcess, Any]) -> None:
    config, web, built = served
    big, small = _ids(config)
    with chromium() as driver:
        sign_in(driver, web.url)
        open_page(driver, web.base, f"/people/{big}")
        driver.execute_script("window.notReloaded = true;")
        box = driver.find_element(By.ID, "merge-other")
        box.send_keys("Nobody Such")
        driver.find_element(By.CSS_SELECTOR, "form.merge button").click()
        note = until(lambda: driver.find_elements(By.CSS_SELECTOR, "form.merge .box-error"), "the message")[0]
        assert "nobody is called 'Nobody Such'" in note.text
        assert driver.execute_script("return window.notReloaded === true")
        assert box.get_attribute("value") == "Nobody Such" and box.get_attribute("aria-invalid") == "true"
        assert "nobody is called" in driver.find_element(By.CSS_SELECTOR, "#toast p.error").text
        box.send_keys(Keys.BACKSPACE)  # typing again clears the message
        assert not driver.find_elements(By.CSS_SELECTOR, "form.merge .box-error")
        # The move box: the face stays, with the message beside its box.
        loner = built.faces[4][0]
        open_page(driver, web.base, "/unknown")
        driver.execute_script("window.notReloaded = true;")
        field = driver.find_element(By.CSS_SELECTOR, f'#face-{loner} input[name="person"]')
        field.send_keys("Zed", Keys.ENTER)
        note = until(lambda: driver.find_elements(By.CSS_SELECTOR, f"#face-{loner} .box-error"), "the message")[0]
        assert "nobody is called 'Zed'" in note.text and field.get_attribute("value") == "Zed"
        assert driver.execute_script("return window.notReloaded === true")
        assert "done" not in (driver.find_element(By.ID, f"face-{loner}").get_attribute("class") or "")
        # A good merge in place: the page reloads to show the merged faces, with the message.
        record_toasts(driver)  # the message lasts seconds: it may be gone before the reloaded page is read
        open_page(driver, web.base, f"/people/{big}")
        driver.find_element(By.ID, "merge-other").send_keys(f"#{small}")
        submit(driver, driver.find_element(By.CSS_SELECTOR, "form.merge button").click)
        until(lambda: any("merged into" in t for t in toasts(driver)), "the message after the reload")
    assert small not in [p["id"] for p in _people(config)]


# Searches for anything but "adam" go out only once the answer for "adam" has been taken in: the order a slow
# network (or a loaded server) can give them. `searchesDone` counts the answers the page has read.
LATE_SEARCHES = """(() => {
  const real = window.fetch.bind(window);
  window.searches = [];
  window.searchesDone = 0;
  let lastRead;
  const lastDone = new Promise((resolve) => { lastRead = resolve; });
  window.fetch = (url, options) => {
    if (!String(url).startsWith("/api/people?")) return real(url, options);
    window.searches.push(String(url));
    const last = String(url).endsWith("q=adam");
    const answer = last ? real(url, options) : lastDone.then(() => real(url, options));
    return answer.then((response) => {
      const json = response.json.bind(response);
      response.json = () => json().then((value) => {
        setTimeout(() => { window.searchesDone += 1; if (last) lastRead(); }, 0);  // after the page used it
        return value;
      });
      return response;
    });
  };
})();"""


def test_a_late_answer_to_an_earlier_search_leaves_the_choices_of_the_text_typed(
        served: tuple[Path, WebProcess, Any]) -> None:
    # The datalist took every answer in the order they came: "ada" typed, then "m", the answer for "ada" (Ada and
    # Adam) arriving after the one for "adam" put Ada back among the choices for "adam".
    config, web, _built = served
    big, small = _ids(config)
    cli_json("people", "name", str(big), "Ada", "--config", str(config))
    cli_json("people", "name", str(small), "Adam", "--config", str(config))
    with chromium() as driver:
        sign_in(driver, web.url)
        open_page(driver, web.base, f"/people/{big}")
        driver.execute_script(LATE_SEARCHES)
        box = driver.find_element(By.ID, "merge-other")
        box.send_keys("ada")
        until(lambda: driver.execute_script("return window.searches.length > 0"), "a search for what is typed")
        box.send_keys("m")
        until(lambda: driver.execute_script("return window.searches.length > 1 && "
                                            "window.searchesDone === window.searches.length"), "every answer read")
        choices = driver.execute_script(
            "return Array.from(document.querySelectorAll('#people-choices option')).map(o => o.value)")
        assert choices == [f"Adam #{small}"], driver.execute_script("return window.searches")
