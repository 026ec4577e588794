"""Long names are never cut off on the People cards: a 60-character name (words, and one long word) wraps
inside its card in a narrow window, the whole name is in the field and in its title, and nothing overflows the
card or the page. A real `pictod web`, a real Chromium, with and without JavaScript."""

from __future__ import annotations

from pathlib import Path
from typing import Any

import pytest
from chromium import chromium, config_for, open_page, sign_in
from pictod_testdata import FACE_RECOGNITION
from web_helpers import Shot, build_library, pictod, start_web, stop

SHOTS = [Shot(FACE_RECOGNITION / "obama.jpg", who=(0,)), Shot(FACE_RECOGNITION / "obama2.jpg", who=(0,)),
         Shot(FACE_RECOGNITION / "obama3.jpg", who=(0, 1)), Shot(FACE_RECOGNITION / "biden.jpg", who=(1,))]
WORDS = "Maria Fernanda Guadalupe Alejandra de los Ángeles Castellano"
ONE_WORD = "Wolfeschlegelsteinhausenbergerdorffvoralternwarengewissenhaf"
MEASURE = """return Array.from(document.querySelectorAll('li.card')).map(card => {
  const field = card.querySelector('[name=name]'), c = card.getBoundingClientRect(), f = field.getBoundingClientRect();
  return {person: Number(card.dataset.person), value: field.value, title: field.title, tag: field.tagName,
          fieldHidden: [field.scrollWidth - field.clientWidth, field.scrollHeight - field.clientHeight],
          cardHidden: card.scrollWidth - card.clientWidth, inside: f.left >= c.left && f.right <= c.right + 0.5,
          right: c.right, lines: Math.round(field.clientHeight / parseFloat(getComputedStyle(field).lineHeight))};
}).concat([{page: document.documentElement.scrollWidth - document.documentElement.clientWidth,
            width: document.documentElement.clientWidth}]);"""


@pytest.mark.parametrize("javascript", [True, False], ids=["js", "no-js"])
def test_long_names_wrap_inside_their_cards(tmp_path: Path, javascript: bool) -> None:
    assert len(WORDS) == len(ONE_WORD) == 60
    built = build_library(tmp_path / "lib", SHOTS)
    config = config_for(built)
    ids = sorted(built.faces[0][0:1] + built.faces[3][0:1])
    people = {}
    for face, name in zip(ids, (WORDS, ONE_WORD), strict=True):
        owner = _owner(config, face)
        assert pictod("people", "name", str(owner), name, "--config", str(config)).returncode == 0
        people[owner] = name
    web = start_web(config, tmp_path)
    try:
        with chromium(width=400, height=800, javascript=javascript) as driver:
            sign_in(driver, web.url)
            open_page(driver, web.base, "/people")
            *cards, page = driver.execute_script(MEASURE)
            assert page["page"] <= 0 and page["width"] == 400, page  # no sideways scrolling
            for card in cards:
                name = people[card["person"]]
                assert card["tag"] == "TEXTAREA" and card["value"] == name and card["title"] == name, card
                assert card["fieldHidden"][0] <= 0 and card["fieldHidden"][1] <= 1, card  # every line shown
                assert card["cardHidden"] <= 0 and card["inside"] and card["right"] <= page["width"], card
                assert card["lines"] >= 3, card  # wrapped, not cut
    finally:
        assert stop(web.proc) == 0, web.stderr.read_text()


def _owner(config: Path, face: int) -> Any:
    from web_helpers import cli_json

    for person in cli_json("people", "--config", str(config)):
        shown = cli_json("people", "show", str(person["id"]), "--config", str(config))
        if face in [f["id"] for f in shown["face_list"]]:
            return person["id"]
    raise AssertionError(f"face {face} is on nobody")
