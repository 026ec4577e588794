"""The web Status page says which watched folders are missing and since when, and how many photos are missing,
from the same read as `pictod status` (issue 22): a real daemon whose second folder is renamed away and one of
whose photos is deleted, a real `pictod web` and a real browser, the page refreshing itself as the folder
comes back."""

from __future__ import annotations

import shutil
from pathlib import Path
from typing import Any

from chromium import chromium, console_errors, fetch_json, open_page, until
from harness import Daemon, expect, query, write_config
from pictod_testdata import FACE_RECOGNITION
from selenium.webdriver.common.by import By
from web_helpers import cli_json, start_web, stop


def _status(config: Path) -> dict[str, Any]:
    return dict(cli_json("status", "--config", str(config)))


def test_status_page_names_missing_folders_and_photos(tmp_path: Path) -> None:
    photos, second = tmp_path / "photos", tmp_path / "second"
    layout = write_config(tmp_path, folders=[photos, second], sections={"daemon": {"status_interval": 0.5}})
    for name in ("obama.jpg", "obama2.jpg"):
        shutil.copy(FACE_RECOGNITION / name, photos / name)
    shutil.copy(FACE_RECOGNITION / "biden.jpg", second / "biden.jpg")
    daemon = Daemon(layout).start(wait_ready=True)
    web = None
    try:
        expect(lambda: query(daemon.db, "SELECT count(*) FROM files WHERE status = 'done'")[0][0] == 3, 120, 0.2,
               "the photos analysed", alive=daemon)
        (photos / "obama2.jpg").unlink()
        expect(lambda: _status(layout.config)["photos_missing"] == 1, 60, 0.2, "a photo missing", alive=daemon)
        second.rename(tmp_path / "second-away")
        cli = expect(lambda: _status(layout.config)["roots_missing"], 60, 0.2, "the folder missing", alive=daemon)
        since = cli[str(second)]
        shown = since[:19].replace("T", " ") + " UTC"
        web = start_web(layout.config, tmp_path)
        with chromium() as driver:
            driver.get(web.url)
            open_page(driver, web.base, "/status")
            banner = driver.find_element(By.ID, "roots-away")
            assert banner.is_displayed() and f"{second} since {shown}" in banner.text
            figures = driver.find_element(By.ID, "figures")
            assert f"watched folders missing\n{second} (since {shown})" in figures.text
            assert "photos missing\n1, the oldest since " in figures.text and "30 days" in figures.text
            data = fetch_json(driver, "/status")["status"]
            assert data["roots_missing"] == cli and data["photos_missing"] == 1 and data["photos"] == 2
            # The folder comes back: the page follows by itself (it refreshes while a daemon runs).
            (tmp_path / "second-away").rename(second)
            until(lambda: not banner.is_displayed(), "the banner gone without a reload")
            assert driver.find_element(By.CSS_SELECTOR, '[data-stat="roots_missing"]').text == "none"
            assert _status(layout.config)["roots_missing"] == {}
            assert not console_errors(driver)
    finally:
        if web is not None:
            assert stop(web.proc) == 0, web.stderr.read_text()
        daemon.stop_clean()
