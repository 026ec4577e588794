"""Where the photo page puts its labels (a face's person, an object's tag) so that none covers another, on
crowded group photos too.

Each label is a chip (a dark box with the text) whose width the page fixes (SVG `textLength`), so the boxes
placed here are the boxes the browser draws, whatever the font. A face's label goes below its face, else above,
else further down or up, sideways, inside; one that fits nowhere near is put at the free place nearest to its
face with a leader line to it. Chips keep a small margin from each other and, where they can, stay off the
other faces. When even that fails (a tiny photo with very many faces) every label is shrunk and placed again;
at the smallest size a label with no room left is left out rather than drawn over another (an object's label
is left out before anything shrinks: the lists under the photo name every face and object).
All in the photo's own pixels (the SVG viewBox), so the layout holds at any zoom.
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass
from typing import Any

Box = tuple[float, float, float, float]  # x1, y1, x2, y2
_NARROW = set("ijl.,:;'!|Iíìïî()[]{}`")
_SEMI = set("frtJ-/ ")
_WIDE = set("mwMW@%")
SHRINK = (1.0, 0.8, 0.65, 0.5)  # the sizes tried, as parts of the usual one
MAX_ROWS = 150  # rows tried by the search for a free place (bounds the time a crowd of faces takes)
FULL = 0.4  # more of the photo than this covered by chips: a smaller size is tried at once


def text_em(text: str) -> float:
    """The width of `text` in em for a bold sans-serif, estimated per character (the page sets it exactly)."""
    width = 0.0
    for ch in text:
        if ch in _NARROW:
            width += 0.34
        elif ch in _SEMI:
            width += 0.45
        elif ch in _WIDE:
            width += 0.95
        elif ch.isupper() or ch.isdigit() or ch == "#":
            width += 0.72
        else:
            width += 0.62
    return width


@dataclass(frozen=True)
class Label:
    """One chip: its box, where its text starts and how wide it is drawn, and an optional leader line."""

    text: str
    x: float
    y: float
    w: float
    h: float
    text_x: float
    text_y: float  # the middle of the chip (dominant-baseline: central)
    text_w: float
    size: float  # font size
    leader: tuple[float, float, float, float] | None = None


@dataclass(frozen=True)
class Layout:
    """The labels of a photo, in the order of the faces and objects given (None: left out, no room)."""

    size: float
    faces: list[Label | None]
    objects: list[Label | None]


@dataclass(frozen=True)
class _Rect:
    x: float
    y: float
    w: float
    h: float

    def hits(self, other: _Rect, margin: float = 0.0) -> bool:
        return (self.x < other.x + other.w + margin and other.x < self.x + self.w + margin
                and self.y < other.y + other.h + margin and other.y < self.y + self.h + margin)


class _Grid:
    """The chips placed so far, in cells of a grid: a lookup sees only the chips near it."""

    def __init__(self, cell_w: float, cell_h: float) -> None:
        self.cell_w, self.cell_h = max(cell_w, 1e-6), max(cell_h, 1e-6)
        self.cells: dict[tuple[int, int], list[_Rect]] = {}

    def _keys(self, rect: _Rect, margin: float) -> list[tuple[int, int]]:
        x0, x1 = int((rect.x - margin) // self.cell_w), int((rect.x + rect.w + margin) // self.cell_w)
        y0, y1 = int((rect.y - margin) // self.cell_h), int((rect.y + rect.h + margin) // self.cell_h)
        return [(i, j) for i in range(x0, x1 + 1) for j in range(y0, y1 + 1)]

    def add(self, rect: _Rect) -> None:
        for key in self._keys(rect, 0.0):
            self.cells.setdefault(key, []).append(rect)

    def near(self, rect: _Rect, margin: float) -> list[_Rect]:
        found: dict[int, _Rect] = {}
        for key in self._keys(rect, margin):
            for placed in self.cells.get(key, ()):
                found[id(placed)] = placed
        return list(found.values())


def _box_rect(box: Box) -> _Rect:
    return _Rect(box[0], box[1], max(0.0, box[2] - box[0]), max(0.0, box[3] - box[1]))


def _gap(a: _Rect, b: _Rect) -> float:
    dx = max(b.x - (a.x + a.w), a.x - (b.x + b.w), 0.0)
    dy = max(b.y - (a.y + a.h), a.y - (b.y + b.h), 0.0)
    return float((dx * dx + dy * dy) ** 0.5)


def layout(width: float, height: float, faces: Sequence[tuple[Box, str]],
           objects: Sequence[tuple[Box, str]] = ()) -> Layout:
    """Place the labels of these faces and objects ((box, text) each) on a width x height photo."""
    usual = max(width, height) / 45
    ems = sum(text_em(t) + 0.8 for _b, t in [*faces, *objects]) * 1.6  # the chips' area in em², with margins
    for part in SHRINK:
        size = usual * part
        if part != SHRINK[-1] and ems * size * size > FULL * width * height:
            continue  # no room at this size for certain: not worth trying
        placed = _attempt(width, height, size, faces, objects, force=part == SHRINK[-1])
        if placed is not None:
            return Layout(size=size, faces=placed[0], objects=placed[1])
    raise AssertionError("the last size is always placed")  # pragma: no cover


def for_photo(photo: Any, faces: Sequence[Any], objects: Sequence[Any]) -> Layout:
    """The layout for the photo page: faces say their person's name, `#id` or `unknown`; objects their tag and
    score (the template's words)."""
    face_texts = [(tuple(f.box), f.person_name or (f"#{f.person_id}" if f.person_id is not None else "unknown"))
                  for f in faces]
    object_texts = [(tuple(o.box), f"{o.label} {o.score:.2f}") for o in objects]
    return layout(float(photo.width), float(photo.height), face_texts, object_texts)


def _attempt(width: float, height: float, size: float, faces: Sequence[tuple[Box, str]],
             objects: Sequence[tuple[Box, str]], *, force: bool = False) -> tuple[list[Label | None],
                                                                                list[Label | None]] | None:
    """The labels at this size; None when a face's label finds no room (unless `force`: then it is left out).
    An object's label that finds no room is left out (the object list under the photo names it)."""
    pad, h, gap, margin = 0.3 * size, 1.4 * size, 0.15 * size, 0.2 * size
    taken = _Grid(6 * size, 2 * h)
    face_rects = [_box_rect(b) for b, _t in faces]
    out: tuple[list[Label | None], list[Label | None]] = ([], [])
    full = False  # a search found no room: later ones would not either (crowds: it bounds the time)
    for group, (items, is_face) in enumerate(((faces, True), (objects, False))):
        for index, (box, text) in enumerate(items):
            w = min(text_em(text) * size + 2 * pad, width)
            own = _box_rect(box)
            others = [r for i, r in enumerate(face_rects) if not (is_face and i == index)]
            spot = _best(_candidates(own, w, h, gap, width, height, is_face), own, others, taken, margin, is_face)
            if spot is None and not full:
                spot = _search(own, w, h, width, height, others, taken, margin)
                full = spot is None
            if spot is None:
                if is_face and not force:
                    return None
                out[group].append(None)
                continue
            taken.add(spot)
            leader = _leader(own, spot) if _gap(spot, own) > 2 * gap else None
            out[group].append(Label(text=text, x=spot.x, y=spot.y, w=spot.w, h=spot.h, text_x=spot.x + pad,
                                    text_y=spot.y + spot.h / 2, text_w=max(spot.w - 2 * pad, 1.0), size=size,
                                    leader=leader))
    return out


def _clamp(x: float, y: float, w: float, h: float, width: float, height: float) -> _Rect:
    return _Rect(min(max(x, 0.0), max(width - w, 0.0)), min(max(y, 0.0), max(height - h, 0.0)), w, h)


def _candidates(own: _Rect, w: float, h: float, gap: float, width: float, height: float,
                is_face: bool) -> list[_Rect]:
    """The places tried, best first: for a face below it, above it, further off, sideways, inside; for an
    object inside its top left corner, above it, inside its bottom."""
    centre = own.x + own.w / 2 - w / 2
    xs = [centre, own.x, own.x + own.w - w] + [centre + k * s * w / 2 for k in (1, 2, 3) for s in (1, -1)]
    step = h + gap
    if is_face:
        below, above = own.y + own.h + gap, own.y - h - gap
        ys = [below, above] + [y for j in (1, 2, 3, 4) for y in (below + j * step, above - j * step)]
        ys += [own.y + own.h - h, own.y]
    else:
        ys = [own.y + gap, own.y - h - gap, own.y + own.h - h - gap] + [own.y + gap + j * step for j in (1, 2, 3)]
        xs = [own.x + gap, own.x + own.w - w - gap, *xs]
    seen: set[tuple[float, float]] = set()
    out = []
    for y in ys:
        for x in xs:
            rect = _clamp(x, y, w, h, width, height)
            key = (round(rect.x, 2), round(rect.y, 2))
            if key not in seen:
                seen.add(key)
                out.append(rect)
    return out


def _best(candidates: list[_Rect], own: _Rect, others: list[_Rect], taken: _Grid, margin: float,
          is_face: bool) -> _Rect | None:
    if candidates:  # only the chips and faces near the candidates matter (a crowd has hundreds)
        area = _Rect(min(c.x for c in candidates), min(c.y for c in candidates), 0, 0)
        area = _Rect(area.x, area.y, max(c.x + c.w for c in candidates) - area.x,
                     max(c.y + c.h for c in candidates) - area.y)
        others = [o for o in others if o.hits(area)]
    near = taken.near(area, margin) if candidates else []
    best: tuple[float, _Rect] | None = None
    for rank, rect in enumerate(candidates):
        if any(rect.hits(t, margin) for t in near):
            continue
        cost = rank + 40 * sum(rect.hits(o) for o in others) + (12 if is_face and rect.hits(own) else 0)
        if best is None or cost < best[0]:
            best = (cost, rect)
    return None if best is None else best[1]


def _search(own: _Rect, w: float, h: float, width: float, height: float, others: list[_Rect],
            taken: _Grid, margin: float) -> _Rect | None:
    """The free place nearest to the box (staying off other faces when it can): row by row over the photo, the
    free stretches of each row worked out from the chips that reach into it."""
    best: tuple[float, _Rect] | None = None
    ideal_x, ideal_y = own.x + own.w / 2 - w / 2, own.y + own.h
    step = max(h / 2, (height - h) / MAX_ROWS, 1e-3)
    eps = 1e-6 * max(width, height)
    y = 0.0
    while y + h <= height + eps:
        band = _Rect(0.0, y, width, h)
        row = [t for t in taken.near(band, margin) if t.y < y + h + margin and y < t.y + t.h + margin]
        spans = sorted((t.x - w - margin - eps, t.x + t.w + margin + eps) for t in row)
        free, start = [], 0.0
        for low, high in spans:
            if low > start:
                free.append((start, low))
            start = max(start, high)
        free.append((start, width - w))
        for low, high in free:
            if low > min(high, width - w):
                continue
            rect = _Rect(min(max(ideal_x, low), min(high, width - w)), y, w, h)
            if any(rect.hits(t, margin) for t in row):
                continue
            dist = ((rect.x - ideal_x) ** 2 + (y + h / 2 - ideal_y) ** 2) ** 0.5
            cost = dist + 4 * h * sum(rect.hits(o) for o in others)
            if best is None or cost < best[0]:
                best = (cost, rect)
        y += step
    return None if best is None else best[1]


def _leader(own: _Rect, chip: _Rect) -> tuple[float, float, float, float]:
    """A line from the box's edge to the chip's nearest edge point."""
    cx = min(max(own.x + own.w / 2, chip.x), chip.x + chip.w)
    cy = min(max(own.y + own.h / 2, chip.y), chip.y + chip.h)
    bx = min(max(cx, own.x), own.x + own.w)
    by = min(max(cy, own.y), own.y + own.h)
    return bx, by, cx, cy
