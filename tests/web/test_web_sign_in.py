"""Signing in to `pictod web` (issue 22): every sign-in address works once, sessions end after
`web.session_idle_minutes` without use with a page that says how to sign in again, and `pictod web link` mints a
fresh address from the running pictod web (through a 0600 file beside the library) for a second browser. Real
processes (`pictod web`, `pictod web link`), real HTTP and a real Chromium."""

from __future__ import annotations

import http.cookiejar
import json
import os
import stat
import time
import urllib.error
import urllib.request
from pathlib import Path

import pytest
from chromium import chromium, config_for, fresh_link, open_page, sign_in, text_of, until
from pictod_testdata import FACE_RECOGNITION
from selenium.webdriver.common.by import By
from selenium.webdriver.common.keys import Keys
from web_helpers import Shot, build_library, pictod, start_web, stop

from daemon.web import links

SHOTS = [Shot(FACE_RECOGNITION / "obama.jpg", who=(0,)), Shot(FACE_RECOGNITION / "obama2.jpg", who=(0,))]


def _browser() -> urllib.request.OpenerDirector:
    return urllib.request.build_opener(urllib.request.HTTPCookieProcessor(http.cookiejar.CookieJar()))


def _open(opener: urllib.request.OpenerDirector, url: str) -> tuple[int, str]:
    try:
        with opener.open(url, timeout=30) as answer:
            return answer.status, answer.read().decode()
    except urllib.error.HTTPError as exc:
        return exc.code, exc.read().decode()


def test_each_address_signs_in_once_and_pictod_web_link_makes_more(tmp_path: Path) -> None:
    built = build_library(tmp_path / "lib", SHOTS)
    config = config_for(built)
    web = start_web(config, tmp_path)
    key_file = links.link_file(built.cfg.database_path, int(web.base.rsplit(":", 1)[1]))
    try:
        assert stat.S_IMODE(key_file.stat().st_mode) == 0o600
        assert json.loads(key_file.read_text())["pid"] == web.proc.pid
        first, second = _browser(), _browser()
        status, page = _open(first, web.url)
        assert status == 200 and "People" in page  # signed in, on the people
        assert _open(first, web.url)[0] == 200  # a reload of the address in the same browser is no error
        status, page = _open(second, web.url)  # another browser: the address was spent
        assert status == 403 and "used already" in page and "pictod web link" in page
        done = pictod("web", "link", "--config", str(config))
        assert done.returncode == 0, done.stderr
        minted = done.stdout.strip()
        assert minted.startswith(web.base + "/?token=m.") and "once" in done.stderr
        status, page = _open(second, minted)
        assert status == 200 and "People" in page
        status, page = _open(_browser(), minted)  # the minted one is spent too
        assert status == 403 and "used already" in page
        forged = minted[:-3] + ("AAA" if not minted.endswith("AAA") else "BBB")
        assert _open(_browser(), forged)[0] == 403
        assert _open(second, web.base + "/people")[0] == 200  # still signed in
        # With the port named, and with JSON.
        port = int(web.base.rsplit(":", 1)[1])
        other = json.loads(pictod("web", "link", "--config", str(config), "--port", str(port), "--json").stdout)
        assert other["url"].startswith(web.base) and other["port"] == port and other["expires"]
        wrong_port = pictod("web", "link", "--config", str(config), "--port", str(port + 1))
        assert wrong_port.returncode == 3 and f"on port {port + 1}" in wrong_port.stderr
    finally:
        assert stop(web.proc) == 0, web.stderr.read_text()
    assert not key_file.exists()  # withdrawn at the clean stop
    done = pictod("web", "link", "--config", str(config))
    assert done.returncode == 3 and "no pictod web is serving" in done.stderr and "Traceback" not in done.stderr


def test_a_killed_pictod_web_leaves_no_working_link(tmp_path: Path) -> None:
    built = build_library(tmp_path / "lib", SHOTS)
    config = config_for(built)
    web = start_web(config, tmp_path)
    web.proc.kill()
    web.proc.wait()
    done = pictod("web", "link", "--config", str(config))  # its file is still there, its process is not
    assert done.returncode == 3 and "no pictod web is serving" in done.stderr


def test_an_idle_session_ends_with_a_page_saying_how_to_sign_in_again(tmp_path: Path) -> None:
    built = build_library(tmp_path / "lib", SHOTS)
    # 6 seconds idle; pages 2.5 s apart keep the session over 7.5 s, with 3.5 s to spare for a browser slowed by a
    # loaded machine (the gap between two requests is the sleep plus the page loads around it).
    config = config_for(built, "session_idle_minutes = 0.1\n")
    web = start_web(config, tmp_path)
    try:
        with chromium() as driver:
            sign_in(driver, web.url)
            open_page(driver, web.base, "/people")
            for _ in range(3):
                time.sleep(2.5)
                open_page(driver, web.base, "/people")  # in use: the idle clock starts again
            assert driver.find_element(By.TAG_NAME, "h1").text.startswith("People")
            time.sleep(6.5)
            # A change made in place: the answer says so, and the message stays.
            field = driver.find_element(By.CSS_SELECTOR, "li.card [name=name]")
            field.send_keys("Ada", Keys.ENTER)
            until(lambda: "signed out after 0.1 minutes" in text_of(driver, "#toast p.error"), "the script told")
            assert "pictod web link" in text_of(driver, "#toast p.error")
            driver.get(web.base + "/people")  # the next page: the sign-in-again page, not a bare refusal
            assert driver.find_element(By.TAG_NAME, "h1").text == "Signed out"
            body = driver.find_element(By.TAG_NAME, "body").text
            assert "without use" in body and "pictod web link" in body and "session_idle_minutes" in body
            sign_in(driver, fresh_link(config))  # signed in again in the same browser
            open_page(driver, web.base, "/people")
            assert driver.find_element(By.TAG_NAME, "h1").text.startswith("People")
    finally:
        assert stop(web.proc) == 0, web.stderr.read_text()


@pytest.mark.parametrize("minutes", ["-1", '"soon"'])
def test_a_bad_idle_setting_is_a_config_error(tmp_path: Path, minutes: str) -> None:
    config = tmp_path / "config.toml"
    config.write_text(f'[library]\nfolders = ["{tmp_path}"]\n[web]\nsession_idle_minutes = {minutes}\n')
    done = pictod("web", "--config", str(config), "--port", "0", timeout=60)
    assert done.returncode == 78 and "web.session_idle_minutes" in done.stderr, (done.returncode, done.stderr)


def test_tokens_are_taken_once_and_links_expire() -> None:
    served = links.Served(path=Path("/nonexistent"), pid=os.getpid(), base="http://127.0.0.1:1", port=1,
                          key=b"k" * 32)
    tokens = links.Tokens("start", served.key)
    assert tokens.take("guess") == "wrong"
    assert tokens.take("start") == "ok" and tokens.take("start") == "used"
    now = time.time()
    url, expires = links.mint(served, now=now)
    token = url.split("token=")[1]
    assert expires == int(now) + links.LINK_MINUTES * 60
    assert tokens.take(token, now=now) == "ok" and tokens.take(token, now=now + 1) == "used"
    late, _ = links.mint(served, now=now)
    assert tokens.take(late.split("token=")[1], now=now + links.LINK_MINUTES * 60 + 1) == "expired"
    other = links.Tokens("start", b"x" * 32)  # another start's key: its links are not this one's
    assert other.take(links.mint(served)[0].split("token=")[1]) == "wrong"
    far = f"m.{int(now) + 86400}.nonce.{links._mac(served.key, int(now) + 86400, 'nonce')}"
    assert tokens.take(far, now=now) == "wrong"  # an expiry no `pictod web link` gives
    assert links.Tokens("start", None).take(token) == "wrong"  # no key: no links


@pytest.mark.parametrize("expiry", ["\u00b2", "1\u00b2", "\u0661\u0662", "", "-1", "1" * 13])
def test_an_odd_link_expiry_is_a_wrong_token_not_a_crash(expiry: str) -> None:
    # '²' passes str.isdigit() but not int(): it gave a 500 (ValueError in the guard) for ?token=m.%C2%B2.a.b
    key = b"k" * 32
    assert links.Tokens("start", key).take(f"m.{expiry}.nonce.{'A' * 43}") == "wrong"


def test_pictod_web_link_trusts_only_a_private_file_of_this_user(tmp_path: Path) -> None:
    # In a folder others can write (a library under /tmp), someone else could plant <database>.web-P.json naming
    # a live process and their own address: `pictod web link` printed that address as this library's sign-in.
    db = tmp_path / "lib.db"
    planted = links.link_file(db, 9)
    planted.write_text(json.dumps({"pid": os.getpid(), "url": "http://127.0.0.1:9", "port": 9,
                                   "key": "a2V5a2V5a2V5a2V5a2V5a2V5a2V5a2V5a2V5a2V5a2U="}))
    planted.chmod(0o644)
    with pytest.raises(links.NoWebRunning):
        links.running(db)
    planted.chmod(0o600)
    assert links.running(db).base == "http://127.0.0.1:9"  # the same file, private: trusted
    if os.geteuid() == 0:
        os.chown(planted, 65534, 65534)  # another user's, even at 0600
        with pytest.raises(links.NoWebRunning):
            links.running(db)
