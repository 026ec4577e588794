"""Videos in `pictod web` (issue 24): the poster frame as a video's thumbnail, each face cropped from its own
frame, and the file itself played from the library: by id only, only inside a watched folder and unchanged, with
HTTP range requests (206 and Content-Range, 416 past the end). Real HTTP against a `pictod web` subprocess on a
library `pictod scan` made from the test clips; then headless Chromium plays the clip and seeks to a face's
frame."""

from __future__ import annotations

import io
import os
import shutil
import tempfile
import urllib.error
import urllib.request
from collections.abc import Iterator
from pathlib import Path

import numpy as np
import pytest
from harness import expect, query
from pictod_testdata import CLIPS, JOHNS
from PIL import Image
from web_helpers import Browserless, WebProcess, pictod, start_web, stop


@pytest.fixture(scope="module")
def library(tmp_path_factory: pytest.TempPathFactory) -> Path:
    root = tmp_path_factory.mktemp("web-video")
    photos = root / "photos"
    photos.mkdir()
    shutil.copy(CLIPS / "people.mp4", photos / "party.mp4")
    shutil.copy(CLIPS / "people.webm", photos / "party.webm")
    shutil.copy(CLIPS / "phone-rotated.mov", photos / "phone.mov")
    shutil.copy(sorted((JOHNS / "John_Salley").glob("*.jpg"))[3], photos / "salley.jpg")
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
def client(web: WebProcess) -> Browserless:
    """One signed-in client for the module: the address `pictod web` prints signs in once (single-use token)."""
    return Browserless(web)


def ids(library: Path, sql: str, *args: object) -> list[int]:
    return [int(r[0]) for r in query(library.parent / "lib.db", sql, *args)]


def fetch(client: Browserless, path: str, headers: dict[str, str] | None = None) -> tuple[int, dict[str, str], bytes]:
    request = urllib.request.Request(client.web.base + path, headers=headers or {})
    try:
        with client.opener.open(request, timeout=60) as answer:
            return answer.status, {k.lower(): v for k, v in answer.headers.items()}, answer.read()
    except urllib.error.HTTPError as exc:
        return exc.code, {k.lower(): v for k, v in exc.headers.items()}, exc.read()


def test_video_page_poster_and_face_frames(library: Path, client: Browserless) -> None:
    (party,) = ids(library, "SELECT photo_id FROM files WHERE CAST(path AS TEXT) LIKE '%party.mp4'")
    (phone,) = ids(library, "SELECT photo_id FROM files WHERE CAST(path AS TEXT) LIKE '%phone.mov'")
    page = client.get(f"/photos/{party}")
    assert f'src="/media/{party}"' in page and "<video" in page
    status, headers, body = fetch(client, f"/img/photo/{phone}/thumb.jpg")
    assert status == 200 and headers["content-type"] == "image/jpeg"
    poster = Image.open(io.BytesIO(body))
    assert poster.height > poster.width  # the portrait clip's poster is upright (display matrix applied)
    faces = query(library.parent / "lib.db", "SELECT id, time FROM faces WHERE photo_id = ? ORDER BY time", party)
    assert [t for _f, t in faces] == [0.0, 2.0, 2.0]
    crops = []
    for face_id, _time in faces:
        status, headers, body = fetch(client, f"/img/face/{face_id}.jpg")
        assert status == 200 and headers["content-type"] == "image/jpeg"
        crops.append(np.asarray(Image.open(io.BytesIO(body)).convert("RGB"), np.float32))
    # Each crop is of its own face: three different people, none the same picture.
    assert all(np.abs(crops[i] - crops[j]).mean() > 20 for i in range(3) for j in range(i + 1, 3))
    # The faces at 2 s are cropped from the frame at 2 s (after the cut), not from the poster frame (1 s, before
    # it): the crop of the same box from the poster frame is another picture.
    from daemon.analysis import video

    box = query(library.parent / "lib.db", "SELECT x1, y1, x2, y2 FROM faces WHERE id = ?", faces[1][0])[0]
    at_poster, _info = video.frame_at(library.parent / "photos" / "party.mp4", 1.0)
    at_face, _info = video.frame_at(library.parent / "photos" / "party.mp4", 2.0)
    x1, y1, x2, y2 = (int(v) for v in box)
    own = at_face[y1:y2, x1:x2].astype(np.float32).mean(axis=(0, 1))
    other = at_poster[y1:y2, x1:x2].astype(np.float32).mean(axis=(0, 1))
    crop_mean = crops[1][40:120, 40:120].mean(axis=(0, 1))
    assert np.abs(crop_mean - own).sum() < np.abs(crop_mean - other).sum()


def test_media_served_by_id_with_ranges(library: Path, client: Browserless) -> None:
    (party,) = ids(library, "SELECT photo_id FROM files WHERE CAST(path AS TEXT) LIKE '%party.mp4'")
    (salley,) = ids(library, "SELECT photo_id FROM files WHERE CAST(path AS TEXT) LIKE '%salley.jpg'")
    data = (library.parent / "photos" / "party.mp4").read_bytes()
    status, headers, body = fetch(client, f"/media/{party}")
    assert (status, headers["content-type"], headers["accept-ranges"]) == (200, "video/mp4", "bytes")
    assert body == data
    status, headers, body = fetch(client, f"/media/{party}", {"Range": "bytes=100-199"})
    assert status == 206 and headers["content-range"] == f"bytes 100-199/{len(data)}" and body == data[100:200]
    status, headers, body = fetch(client, f"/media/{party}", {"Range": f"bytes={len(data) - 10}-"})
    assert status == 206 and body == data[-10:]
    status, headers, _body = fetch(client, f"/media/{party}", {"Range": f"bytes={len(data) + 5}-"})
    assert status == 416 and headers["content-range"] == f"bytes */{len(data)}"
    assert fetch(client, f"/media/{salley}")[0] == 404  # a photo is no video
    assert fetch(client, "/media/999999")[0] == 404
    assert fetch(client, "/media/../lib.db")[0] == 404
    # Not signed in: nothing.
    anonymous = urllib.request.Request(client.web.base + f"/media/{party}")
    with pytest.raises(urllib.error.HTTPError) as refused:
        urllib.request.urlopen(anonymous, timeout=30)
    assert refused.value.code == 403  # the session guard (urllib would have followed a redirect)


def test_media_of_a_changed_file_is_refused(library: Path, client: Browserless) -> None:
    (phone,) = ids(library, "SELECT photo_id FROM files WHERE CAST(path AS TEXT) LIKE '%phone.mov'")
    path = library.parent / "photos" / "phone.mov"
    st = path.stat()
    try:
        os.utime(path, ns=(st.st_atime_ns, st.st_mtime_ns + 10**9))
        assert fetch(client, f"/media/{phone}")[0] == 404
    finally:
        os.utime(path, ns=(st.st_atime_ns, st.st_mtime_ns))
    assert fetch(client, f"/media/{phone}")[0] == 200


def test_browser_plays_the_clip_at_a_faces_frame(library: Path, web: WebProcess) -> None:
    from chromium import chromium, fresh_link

    (clip,) = ids(library, "SELECT photo_id FROM files WHERE CAST(path AS TEXT) LIKE '%party.webm'")
    face_time = query(library.parent / "lib.db", "SELECT max(time) FROM faces WHERE photo_id = ?", clip)[0][0]
    with chromium(800, 600, flags=("--autoplay-policy=no-user-gesture-required",)) as driver:
        driver.get(fresh_link(library))  # the printed address was used by `client`: a new one
        driver.get(f"{web.base}/photos/{clip}")
        expect(lambda: driver.execute_script(
            "const v = document.querySelector('video'); return v && v.readyState >= 1"),
            timeout=60, what="the video's metadata loaded")
        assert driver.execute_script("return document.querySelector('video').duration") == pytest.approx(4.0, abs=0.1)
        driver.execute_script("const v = document.querySelector('video'); v.muted = true; "
                              "v.currentTime = arguments[0];", face_time)
        expect(lambda: driver.execute_script("const v = document.querySelector('video'); "
                                             "return !v.seeking && v.readyState >= 2 && v.videoWidth === 640"),
               timeout=60, what="the face's frame decoded")
        assert abs(driver.execute_script("return document.querySelector('video').currentTime") - face_time) < 0.2
        driver.execute_script("document.querySelector('video').play()")
        expect(lambda: driver.execute_script("return document.querySelector('video').currentTime") > face_time + 0.3,
               timeout=60, what="the clip playing on from the face's frame")
        shot = Path(tempfile.gettempdir()) / "pictod-video-page.png"
        driver.save_screenshot(str(shot))
        print(f"\nscreenshot: {shot}")
