"""The messages after a correction name the person ("face 7 moved to Anna", not "person 8"); an unnamed person
is `person #8`, as the pages call them. A real `pictod web` and a real Chromium; every toast shown is recorded."""

from __future__ import annotations

import re
from pathlib import Path

from chromium import chromium, config_for, open_page, record_toasts, sign_in, submit, toasts, until
from pictod_testdata import FACE_RECOGNITION, SKIMAGE
from selenium.webdriver.common.by import By
from selenium.webdriver.common.keys import Keys
from web_helpers import Shot, build_library, cli_json, start_web, stop

SHOTS = [Shot(FACE_RECOGNITION / "obama.jpg", who=(0,)), Shot(FACE_RECOGNITION / "obama2.jpg", who=(0,)),
         Shot(FACE_RECOGNITION / "obama3.jpg", who=(0, 1)), Shot(FACE_RECOGNITION / "biden.jpg", who=(1,)),
         Shot(SKIMAGE / "astronaut.png", who=(2,))]


def test_toasts_name_the_person(tmp_path: Path) -> None:
    built = build_library(tmp_path / "lib", SHOTS)
    config = config_for(built)
    big, small = (p["id"] for p in sorted(cli_json("people", "--config", str(config)), key=lambda p: -p["faces"]))
    loner = built.faces[4][0]
    web = start_web(config, tmp_path)
    seen: list[str] = []
    try:
        with chromium() as driver:
            sign_in(driver, web.url)
            record_toasts(driver)  # every page from here on keeps the messages it shows (they last seconds)
            open_page(driver, web.base, "/people")
            field = driver.find_element(By.CSS_SELECTOR, f'li[data-person="{big}"] [name="name"]')
            field.send_keys("Anna", Keys.ENTER)
            until(lambda: f"person #{big} is now Anna" in toasts(driver), "the rename said")
            seen += toasts(driver)
            open_page(driver, web.base, "/unknown")
            box = driver.find_element(By.CSS_SELECTOR, f"#face-{loner} input.person-search")
            box.send_keys("Anna", Keys.ENTER)
            until(lambda: f"face {loner} moved to Anna" in toasts(driver), "the move said")
            seen += toasts(driver)
            open_page(driver, web.base, f"/people/{small}")
            tile = driver.find_element(By.CSS_SELECTOR, "figure.face")
            face = tile.get_attribute("data-face")
            tile.find_element(By.CSS_SELECTOR, 'button[data-key="reject"]').click()
            until(lambda: f"face {face} is not person #{small}" in toasts(driver), "the unnamed one said")
            seen += toasts(driver)
            # A plain form post (the merge without the script's help) comes back with the message too.
            driver.execute_script("document.querySelector('form.merge').classList.remove('js-box')")
            driver.find_element(By.ID, "merge-other").send_keys("Anna")
            submit(driver, driver.find_element(By.CSS_SELECTOR, "form.merge button").click)
            until(lambda: any("Anna merged into" in t for t in toasts(driver)), "the merge said")
            seen += toasts(driver)
        assert f"Anna merged into person #{small} (now called Anna)" in seen
        assert not [t for t in seen if re.search(r"person \d", t)], seen
    finally:
        assert stop(web.proc) == 0, web.stderr.read_text()
