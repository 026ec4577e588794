"""`pictod web` as a command: help, the printed address, refusing a taken port, the warning off loopback."""

from __future__ import annotations

import socket
import urllib.error
import urllib.request
from pathlib import Path

from web_helpers import pictod, start_web, stop


def _config(tmp_path: Path) -> Path:
    (tmp_path / "photos").mkdir(parents=True)
    config = tmp_path / "config.toml"
    config.write_text('[library]\nfolders = ["photos"]\ndatabase = "lib.db"\n')
    return config


def test_help() -> None:
    done = pictod("web", "--help")
    assert done.returncode == 0
    for option in ("--config", "--port", "--host", "--open", "--json"):
        assert option in done.stdout


def test_prints_a_tokened_loopback_address_and_stops_cleanly(tmp_path: Path) -> None:
    web = start_web(_config(tmp_path), tmp_path)
    try:
        assert web.url.startswith("http://127.0.0.1:") and "?token=" in web.url
        browser = urllib.request.build_opener(urllib.request.HTTPCookieProcessor())
        with browser.open(web.url, timeout=10) as answer:  # no library yet: the page says so
            raise AssertionError(f"expected 503, got {answer.status}")
    except urllib.error.HTTPError as exc:
        assert exc.code == 503 and b"no library at" in exc.read()
    finally:
        assert stop(web.proc) == 0
    again = start_web(_config(tmp_path / "second"), tmp_path / "second")
    try:
        assert again.url.split("token=")[1] != web.url.split("token=")[1]  # a fresh token every start
    finally:
        stop(again.proc)


def test_open_hands_the_address_to_the_browser(tmp_path: Path) -> None:
    opened = tmp_path / "opened.txt"
    opener = tmp_path / "browser.sh"
    opener.write_text(f'#!/bin/sh\nprintf "%s" "$1" > "{opened}"\n')
    opener.chmod(0o755)
    web = start_web(_config(tmp_path), tmp_path, "--open", env={"BROWSER": f"{opener} %s"})
    try:
        from harness import expect

        expect(opened.exists, timeout=20, what="the browser started")
        assert expect(opened.read_text, timeout=5) == web.url
    finally:
        stop(web.proc)


def test_a_taken_port_is_a_clear_error(tmp_path: Path) -> None:
    with socket.socket() as taken:
        taken.bind(("127.0.0.1", 0))
        taken.listen()
        port = taken.getsockname()[1]
        done = pictod("web", "--config", str(_config(tmp_path)), "--port", str(port), timeout=60)
    assert done.returncode == 2
    assert f"cannot listen on 127.0.0.1:{port}" in done.stderr and "--port" in done.stderr
    assert "Traceback" not in done.stderr


def test_another_host_is_warned_about(tmp_path: Path) -> None:
    # 192.0.2.1 (TEST-NET-1) is not an address of this machine: the bind fails after the warning, nothing is sent.
    done = pictod("web", "--config", str(_config(tmp_path)), "--host", "192.0.2.1", "--port", "0", timeout=60)
    assert "WARNING" in done.stderr and "not on loopback" in done.stderr
    assert done.returncode == 2 and "cannot listen on 192.0.2.1" in done.stderr


def test_the_listening_socket_says_it_is_tcp() -> None:
    # Regression: a socket made with proto 0 kept Nagle on for every connection (asyncio sets TCP_NODELAY only
    # on sockets whose proto is IPPROTO_TCP): each keep-alive response waited ~40 ms for a delayed ACK.
    from daemon.web.server import bind

    sock = bind("127.0.0.1", 0)
    try:
        assert sock.proto == socket.IPPROTO_TCP
    finally:
        sock.close()
