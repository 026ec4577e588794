"""Face labels never cover each other on crowded photos: the real VOC group photos with the most faces (dlib's
labelled set, from the test data cache) analysed by `pictod scan`, some faces named with long names, shown by a
real `pictod web` in a real Chromium; every label's box is measured in the browser. Also the placement itself
(`daemon/web/labels.py`) on made-up crowds, down to a photo too small for its labels at the usual size."""

from __future__ import annotations

import itertools
import shutil
from pathlib import Path
from typing import Any

from chromium import chromium, console_errors, fresh_link, open_page, sign_in
from pictod_testdata import dlib_voc_faces
from web_helpers import cli_json, pictod, start_web, stop

from daemon.web import labels

NAMES = ["Alexandra Montgomery-Smythe", "Bo", "Christopher Wellington III", "Di", "Elisabeth Fitzgerald",
         "Maria Fernanda Guadalupe Alejandra de los Ángeles Castellano"]
MEASURE = """const svg = document.querySelector('.photo-view svg').getBoundingClientRect();
return {svg: [svg.left, svg.top, svg.right, svg.bottom], faces: document.querySelectorAll('svg .face-box').length,
  objects: document.querySelectorAll('svg .object').length,
  labels: Array.from(document.querySelectorAll('svg g.label')).map(g => {
    const t = g.querySelector('text').getBoundingClientRect(), c = g.querySelector('rect.chip').getBoundingClientRect();
    return {text: g.querySelector('text').textContent, textBox: [t.left, t.top, t.right, t.bottom],
            chip: [c.left, c.top, c.right, c.bottom]};
  })};"""


def _overlap(a: list[float], b: list[float]) -> bool:
    return a[0] < b[2] and b[0] < a[2] and a[1] < b[3] and b[1] < a[3]


def test_labels_of_crowded_voc_photos_do_not_overlap_in_the_browser(tmp_path: Path) -> None:
    crowded = sorted(dlib_voc_faces(), key=lambda item: -len(item[1]))[:3]
    assert min(len(boxes) for _p, boxes in crowded) >= 7
    photos = tmp_path / "photos"
    photos.mkdir()
    for path, _boxes in crowded:
        shutil.copy(path, photos / path.name)
    config = tmp_path / "config.toml"
    config.write_text('[library]\nfolders = ["photos"]\ndatabase = "lib.db"\n[web]\nthumbnail_cache_mb = 8\n')
    assert pictod("scan", "--config", str(config), "--json").returncode == 0
    found = cli_json("photos", "--config", str(config))
    assert len(found) == 3 and all(len(p["faces"]) >= 6 for p in found), [len(p["faces"]) for p in found]
    names = itertools.cycle(NAMES)
    for photo in found:  # every other face named (a long name or a short one), the rest "unknown"
        for face in photo["faces"][::2]:
            done = pictod("people", "new", str(face["id"]), "--name", next(names), "--config", str(config))
            assert done.returncode == 0, done.stderr
    web = start_web(config, tmp_path)
    texts: set[str] = set()
    try:
        for width, url in ((1280, web.url), (420, None)):
            with chromium(width=width, height=900) as driver:
                sign_in(driver, url or fresh_link(config))  # the printed address signs in one browser
                for photo in found:
                    open_page(driver, web.base, f"/photos/{photo['id']}")
                    driver.execute_async_script("document.fonts.ready.then(arguments[arguments.length - 1])")
                    seen: dict[str, Any] = driver.execute_script(MEASURE)
                    shown = seen["labels"]
                    assert seen["faces"] == len(photo["faces"]) and seen["objects"] >= 3
                    assert len(shown) == seen["faces"] + seen["objects"]  # every face and object has its label
                    texts.update(label["text"] for label in shown)
                    for one, other in itertools.combinations(shown, 2):
                        assert not _overlap(one["chip"], other["chip"]), (photo["id"], width, one, other)
                    svg = seen["svg"]
                    for label in shown:
                        x1, y1, x2, y2 = label["chip"]
                        assert svg[0] - 0.5 <= x1 and x2 <= svg[2] + 0.5 and svg[1] - 0.5 <= y1 and y2 <= svg[3] + 0.5
                        text, chip = label["textBox"], label["chip"]  # the text is drawn inside its chip
                        assert chip[0] - 0.5 <= text[0] and text[2] <= chip[2] + 0.5, label
                        assert chip[1] - 1 <= text[1] and text[3] <= chip[3] + 1, label
                assert not console_errors(driver)
        assert set(NAMES) <= texts and "unknown" in texts  # the long names were there, whole
    finally:
        assert stop(web.proc) == 0, web.stderr.read_text()


def _rects(placed: labels.Layout) -> list[tuple[float, float, float, float]]:
    return [(lb.x, lb.y, lb.x + lb.w, lb.y + lb.h) for lb in [*placed.faces, *placed.objects] if lb is not None]


def test_a_row_of_faces_with_long_names_gets_labels_that_do_not_touch() -> None:
    faces = [((20.0 + 38 * k, 100.0, 52.0 + 38 * k, 140.0), NAMES[k % len(NAMES)]) for k in range(12)]
    objects = [((10.0 + 38 * k, 90.0, 60.0 + 38 * k, 330.0), "person 0.87") for k in range(12)]
    placed = labels.layout(500, 375, faces, objects)
    rects = _rects(placed)
    assert len(rects) == 24
    for a, b in itertools.combinations(rects, 2):
        assert not _overlap(list(a), list(b)), (a, b)
    assert all(x1 >= 0 and x2 <= 500 and y1 >= 0 and y2 <= 375 for x1, y1, x2, y2 in rects)
    assert all(placed.faces)  # every face has its label
    near = [lb for lb in placed.faces if lb is not None and lb.leader is None]
    assert len(near) >= 4  # the first ones sit right at their faces; the rest are led to them by a line


def test_a_photo_too_small_for_its_labels_gets_smaller_labels() -> None:
    faces = [((8.0 * (k % 10), 7.5 * (k // 10), 8.0 * (k % 10) + 7, 7.5 * (k // 10) + 7), "Christopher Wellington")
             for k in range(80)]  # a face everywhere, more names than the photo holds at the usual size
    placed = labels.layout(80, 60, faces)
    assert placed.size < 80 / 45 and sum(lb is not None for lb in placed.faces) > 40
    for a, b in itertools.combinations(_rects(placed), 2):
        assert not _overlap(list(a), list(b)), (a, b)


def test_the_usual_photo_keeps_the_usual_size_and_a_label_under_its_face() -> None:
    placed = labels.layout(1200, 900, [((500.0, 300.0, 700.0, 550.0), "Ada")])
    (one,) = placed.faces
    assert one is not None and placed.size == 1200 / 45 and one.leader is None
    assert one.y > 550 and one.x < 600 < one.x + one.w  # below, centred
