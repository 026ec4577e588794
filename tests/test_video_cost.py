"""What the video sampling saves (issue 24's CPU target, bench/video.py --variants), on a real clip composed here
with the test-data step's own composer and encoder (tools/make_clips.py): one still take, a face and a cup on a
table, nothing changing. Objects are looked for in the first frame only (the view never changes by
objects_threshold), faces in every analysed frame, but the face is embedded once (it looks the same each time:
it borrows); and what the video gives (its person with its own embedding, its objects and when they are seen) is
what the full chain gives. A take where one person gives way to another at the same place embeds both."""

from __future__ import annotations

import dataclasses
import sys
from collections.abc import Iterator
from pathlib import Path

import pytest
from pictod_testdata import REPO, TESTDATA

from daemon import config
from daemon.analysis import video
from daemon.analysis.analyzer import Analyzer
from daemon.config import VideoConfig

sys.path.insert(0, str(REPO / "tools"))
from make_clips import Actor, Scene, Sources, compose, encode

SECONDS, SIZE, FPS = 8.0, (640, 360), 15  # the encoder's key frame every 30 frames: 0, 2, 4 and 6 s
EVERY_KEY_FRAME = VideoConfig(probe_every=2.0, sample_every=2.0)


def _take(tmp_path_factory: pytest.TempPathFactory, name: str, *actors: Actor) -> Path:
    """One still take at the coffee table (the background panned 1%) with these actors, encoded as the test-data
    step does."""
    scene = Scene(Sources.of(TESTDATA).skimage / "coffee.png", SECONDS, actors, pan=(0.0, 0.01))
    path = tmp_path_factory.mktemp(name) / f"{name}-take.mp4"
    encode(path, compose([scene], SIZE, FPS), size=SIZE, fps=FPS, codec="h264")
    return path


def _crop(who: str) -> Path:
    return Sources.of(TESTDATA).crops(who)[0]


@pytest.fixture(scope="module")
def still_take(tmp_path_factory: pytest.TempPathFactory) -> Path:
    return _take(tmp_path_factory, "still", Actor("John_Salley", _crop("John_Salley"), (0.3, 0.45, 0.3),
                                                  (0.31, 0.45, 0.3)))


@pytest.fixture(scope="module")
def swap_take(tmp_path_factory: pytest.TempPathFactory) -> Path:
    """John Salley at the table for 4 s, then John Shimkus in his place, the background going on as one take."""
    place = (0.3, 0.45, 0.3)
    return _take(tmp_path_factory, "swap", Actor("John_Salley", _crop("John_Salley"), place, place, leaves=4.0),
                 Actor("John_Shimkus", _crop("John_Shimkus"), place, place, enters=4.0))


@pytest.fixture(scope="module")
def analyzer() -> Analyzer:
    return Analyzer.from_config(config.load(REPO / "config.toml", check_folders=False), workers=1)


def test_objects_are_looked_for_again_only_when_the_view_changed(still_take: Path) -> None:
    info = video.probe(still_take)
    samples = list(video.sample(still_take, info, EVERY_KEY_FRAME, long_side=None))
    assert [s.time for s in samples] == [0.0, 2.0, 4.0, 6.0]
    assert [s.why for s in samples] == ["first", "time", "time", "time"]
    assert [s.objects for s in samples] == [True, False, False, False]
    every = dataclasses.replace(EVERY_KEY_FRAME, objects_threshold=0.0)
    assert [s.objects for s in video.sample(still_take, info, every, long_side=None)] == [True] * 4


def test_a_still_take_costs_one_object_search_and_finds_the_same(analyzer: Analyzer, still_take: Path) -> None:
    full = analyzer.analyze_video(still_take, dataclasses.replace(EVERY_KEY_FRAME, objects_threshold=0.0))
    cheap = analyzer.analyze_video(still_take, EVERY_KEY_FRAME)
    assert full.timings_ms["frames"] == cheap.timings_ms["frames"] == 4
    assert len(full.faces) == len(cheap.faces) == 1
    a, b = full.faces[0], cheap.faces[0]
    assert float(a.embedding @ b.embedding) > 0.99 and a.time == b.time and a.seen == b.seen == ((0.0, SECONDS),)
    labels = {o.label for o in cheap.objects}
    assert "cup" in labels and labels <= {o.label for o in full.objects}
    assert all(o.seen == ((0.0, SECONDS),) and o.time == 0.0 for o in cheap.objects)  # frame 0's stand for the take


@pytest.fixture
def embedded(analyzer: Analyzer) -> Iterator[list[int]]:
    """The number of faces of each run of the real embedder (a spy around it, taken off afterwards)."""
    model = analyzer.models.embeddings
    runs: list[int] = []
    real = model.embed

    def counting(image: object, faces: list[object]) -> object:
        runs.append(len(faces))
        return real(image, faces)  # type: ignore[arg-type]

    model.embed = counting  # type: ignore[method-assign,assignment]
    try:
        yield runs
    finally:
        del model.embed


def test_a_still_take_embeds_its_face_once_and_gives_it_its_own_embedding(
        analyzer: Analyzer, still_take: Path, embedded: list[int]) -> None:
    every = analyzer.analyze_video(still_take, dataclasses.replace(EVERY_KEY_FRAME, same_look=1.0))
    assert sum(embedded) == 4 and every.timings_ms["borrowed"] == 0
    embedded.clear()
    cheap = analyzer.analyze_video(still_take, EVERY_KEY_FRAME)
    assert cheap.timings_ms["borrowed"] == 3
    (a,), (b,) = every.faces, cheap.faces
    assert (a.time, a.box, a.seen) == (b.time, b.box, b.seen)
    # The face kept is the best of the four; borrowed, it is embedded after all from its own pixels.
    assert sum(embedded) == (1 if b.time == 0.0 else 2)
    assert float(a.embedding @ b.embedding) > 0.9999


def test_a_face_in_another_face_s_place_is_embedded_not_borrowed(
        analyzer: Analyzer, swap_take: Path, embedded: list[int]) -> None:
    result = analyzer.analyze_video(swap_take, EVERY_KEY_FRAME)
    assert result.timings_ms["frames"] == 4
    assert len(result.faces) == 2, [(f.time, f.seen) for f in result.faces]
    first, second = sorted(result.faces, key=lambda f: f.time or 0.0)
    assert first.seen == ((0.0, 4.0),) and second.seen == ((4.0, SECONDS),)
    assert 1.0 - float(first.embedding @ second.embedding) > 0.5  # two people, each with its own embedding
    assert result.timings_ms["borrowed"] == 2 and sum(embedded) >= 2


@pytest.fixture(scope="module")
def sharp_take(tmp_path_factory: pytest.TempPathFactory) -> Path:
    """The still take's face big and sharp (every part of its quality at the top: each frame scores 1.0), a
    little smaller each second: the detector likes a later frame best."""
    return _take(tmp_path_factory, "sharp", Actor("John_Salley", _crop("John_Salley"), (0.3, 0.45, 0.52),
                                                  (0.31, 0.45, 0.48)))


def test_a_borrowed_face_of_equal_quality_kept_for_its_person_gets_its_own_embedding(
        analyzer: Analyzer, sharp_take: Path) -> None:
    """Quality ties (1.0 is its top) and the detector score decides which face a person keeps: that face, if it
    borrowed, is embedded from its own pixels too."""
    every = analyzer.analyze_video(sharp_take, dataclasses.replace(EVERY_KEY_FRAME, same_look=1.0))
    cheap = analyzer.analyze_video(sharp_take, EVERY_KEY_FRAME)
    (a,), (b,) = every.faces, cheap.faces
    assert cheap.timings_ms["borrowed"] == 3
    assert a.quality is not None and a.quality.score == 1.0 and a.time != 0.0  # a borrower, tied with its lender
    assert (a.time, a.box, a.seen) == (b.time, b.box, b.seen)
    assert float(a.embedding @ b.embedding) > 0.9999
