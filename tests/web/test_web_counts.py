"""Counts on the Unknown faces, Person and People pages follow the corrections made in place (JavaScript, no
reload): each answer carries the figures after it (`reads.figures`, the People page's own read) and a group's
"accept all N" counts the faces left in it. A real `pictod web`, a real Chromium; every figure shown is checked
against the app's own JSON and the CLI."""

from __future__ import annotations

from pathlib import Path
from typing import Any

from chromium import chromium, config_for, console_errors, fetch_json, open_page, sign_in, submit, text_of, until
from pictod_testdata import FACE_RECOGNITION, JOHNS, SKIMAGE
from selenium.webdriver.common.by import By
from selenium.webdriver.common.keys import Keys
from web_helpers import Shot, build_library, cli_json, start_web, stop

from daemon.library import corrections
from daemon.store import Store


def _person(config: Path, person_id: int) -> dict[str, Any]:
    return next(p for p in cli_json("people", "--config", str(config)) if p["id"] == person_id)


def test_counts_follow_changes_made_in_place(tmp_path: Path) -> None:
    sources = [FACE_RECOGNITION / n for n in ("obama.jpg", "obama2.jpg", "obama3.jpg")]
    sources += sorted((JOHNS / "John_Salley").iterdir())[:3]
    shots = [Shot(src, who=(0,)) for src in sources] + [Shot(FACE_RECOGNITION / "biden.jpg", who=(1,)),
                                                        Shot(sorted((JOHNS / "John_Savage").iterdir())[0], who=(1,)),
                                                        Shot(SKIMAGE / "astronaut.png", who=(2,))]  # like nobody
    built = build_library(tmp_path / "lib", shots, recluster=False)
    store = Store.open(built.cfg.database_path)
    try:  # one face each makes a person; the faces like them are suggested
        ada = corrections.new_person(store, [built.faces[0][0]])
        bob = corrections.new_person(store, [built.faces[6][0]])
    finally:
        store.close()
    config = config_for(built)
    web = start_web(config, tmp_path)
    try:
        with chromium() as driver:
            sign_in(driver, web.url)
            open_page(driver, web.base, "/unknown")
            group = f'section.group:has(a[href="/people/{ada}"])'
            assert text_of(driver, f"{group} form.accept-all button") == "accept all 5"
            assert text_of(driver, '[data-count="unassigned_faces"]') == "7"
            driver.execute_script("window.notReloaded = true;")
            tiles = driver.find_elements(By.CSS_SELECTOR, f"{group} figure.face")
            first, second = (int(t.get_attribute("data-face") or 0) for t in tiles[:2])
            tiles[0].find_element(By.CSS_SELECTOR, 'button[data-key="accept"]').click()  # yes, Ada
            until(lambda: text_of(driver, f"{group} form.accept-all button") == "accept all 4", "4 left")
            tiles[1].find_element(By.CSS_SELECTOR, 'button[data-key="reject"]').click()  # not Ada
            until(lambda: text_of(driver, f"{group} form.accept-all button") == "accept all 3", "3 left")
            assert text_of(driver, f"{group} h2 small") == "3 faces"
            until(lambda: text_of(driver, '[data-count="unassigned_faces"]') == "6", "one face less on nobody")
            assert driver.execute_script("return window.notReloaded === true")
            assert fetch_json(driver, "/people")["unassigned_faces"] == 6
            left = driver.execute_script(
                "return Array.from(document.querySelectorAll(arguments[0] + ' form.accept-all input[name=face]'))"
                ".map(i => Number(i.value))", group)
            assert first not in left and second not in left and len(left) == 3
            # A face moved by its box from the plain group: that group's count follows too.
            plain = "section.group:not(:has(form.accept-all))"
            assert text_of(driver, f"{plain} h2 small") == "1"
            box = driver.find_element(By.CSS_SELECTOR, f"{plain} figure.face input.person-search")
            box.send_keys(f"#{bob}", Keys.ENTER)
            until(lambda: not driver.find_element(By.CSS_SELECTOR, plain).is_displayed(), "the empty group hidden")
            assert text_of(driver, f"{plain} h2 small") == "0"
            until(lambda: text_of(driver, '[data-count="unassigned_faces"]') == "5", "one face less on nobody")
            assert _person(config, bob)["faces"] == 2
            # "accept all 3" takes the three left, and only them.
            submit(driver, driver.find_element(By.CSS_SELECTOR, f"{group} form.accept-all button").click)
            assert not driver.execute_script("return window.notReloaded === true")  # the page after the post
            assert _person(config, ada)["faces"] == 5  # its first face, the one taken, the three
            # People: "0 named" becomes "1 named" when a name is typed on a card.
            open_page(driver, web.base, "/people")
            assert text_of(driver, '[data-count="named"]') == "0"
            driver.execute_script("window.notReloaded = true;")
            field = driver.find_element(By.CSS_SELECTOR, f'li[data-person="{ada}"] [name="name"]')
            field.send_keys("Ada", Keys.ENTER)
            until(lambda: text_of(driver, '[data-count="named"]') == "1", "1 named")
            assert fetch_json(driver, "/people")["named"] == 1 and _person(config, ada)["name"] == "Ada"
            # Person: the faces and photos in the title follow a face taken off and a face moved away.
            open_page(driver, web.base, f"/people/{ada}")
            assert text_of(driver, f'h1 [data-person-faces="{ada}"]') == "5 faces"
            driver.execute_script("window.notReloaded = true;")
            face = driver.find_elements(By.CSS_SELECTOR, "figure.face")[-1]
            face.find_element(By.CSS_SELECTOR, 'button[data-key="reject"]').click()
            until(lambda: text_of(driver, f'h1 [data-person-faces="{ada}"]') == "4 faces", "4 faces")
            assert text_of(driver, f'h1 [data-person-photos="{ada}"]') == "4 photos"
            face = driver.find_elements(By.CSS_SELECTOR, "figure.face:not(.done)")[-1]
            face.find_element(By.CSS_SELECTOR, 'input.person-search').send_keys(f"#{bob}", Keys.ENTER)
            until(lambda: text_of(driver, f'h1 [data-person-faces="{ada}"]') == "3 faces", "3 faces")
            assert driver.execute_script("return window.notReloaded === true")
            assert (_person(config, ada)["faces"], _person(config, ada)["photos"]) == (3, 3)
            assert not console_errors(driver)
    finally:
        assert stop(web.proc) == 0, web.stderr.read_text()
