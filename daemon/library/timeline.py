"""The timeline, the web app's Photos page (issue 25): the photos a search shows, by month, newest first.

- `months`: every month with a photo under the filter, with its count (the scrubber, the month headers).
- `paginate`: those months cut into pages of about `PAGE_PHOTOS` photos, whole months where they fit, a month
  larger than a page in page-sized slices (the pages without JavaScript, with their previous and next).
- `month_photos`: one slice of one month (what the page's script fetches as the user scrolls).
- `facets`: each facet's values with the number of photos they have under the filter (AND with the filter).
- `timeline`: all of that for one page, read in one snapshot.

A photo's month is its date by the search's one rule (`pictod photos --since/--until`): the EXIF capture time,
else its file's modification time in local time (`daemon/store/search.py`'s `DATE_SQL`).

A facet is one entry of `FACETS`: its name, the query parameter (and CLI option) naming one value, the
`PhotoFilter` field it narrows (a tuple: every value chosen must hold), and how a value typed or linked becomes
the field's value; its name is the one `store/timeline.py`'s `facet_counts` counts its values by (every facet
under one filter in one read of the filter's photos). People and tags hold several values (all must hold); a
place and an event one each (a photo has one of each), the last chosen replacing.
"""

from __future__ import annotations

import dataclasses
import re
import sqlite3
from collections.abc import Callable, Sequence
from dataclasses import dataclass
from typing import Any

from daemon.errors import UsageError
from daemon.library import events, reads
from daemon.store import Store
from daemon.store import timeline as sql
from daemon.store.places import place_condition
from daemon.store.search import PhotoFilter, check_filter, date_bounds
from daemon.store.timeline import FacetCount, TimelineItem

__all__ = ["FACETS", "PAGE_PHOTOS", "Facet", "FacetCount", "FacetValue", "FacetValues", "Month", "MonthPhotos",
           "Slice", "Timeline", "TimelineItem", "TimelinePage", "check_month", "facets", "month_photos", "months",
           "narrowed", "paginate", "parse_person", "timeline"]

PAGE_PHOTOS = 120  # photos on a page without JavaScript, and per fetch of the page's script
_MONTH = re.compile(r"\d{4}-\d{2}")


@dataclass(frozen=True)
class Facet:
    """One way to narrow the timeline."""

    name: str  # 'people': the heading and the key of its values in an answer
    param: str  # 'person': the query parameter of one value (the CLI's --person)
    field: str  # the PhotoFilter field it narrows, a tuple of values
    parse: Callable[[Store, str], int | str] = lambda _store, text: text  # a value from a link or a form
    split: str | None = None  # a form's text may name several values, separated by this
    single: bool = False  # the field holds one value (a photo has one place, one event): a new one replaces it


_ID = re.compile(r"#?(\d{1,19})|.*#(\d{1,19})\)?")  # as `reads.find_person` reads an id


def parse_person(store: Store, text: str) -> int:
    """A person from a link or the people box: `12`, `#12`, `Ada #12` (one row read: the page's links name
    people by id), else a name (`reads.find_person`)."""
    match = _ID.fullmatch(" ".join(text.split()))
    if match:
        return reads.person_summary(store, int(match.group(1) or match.group(2))).id
    return reads.find_person(store, text)


def parse_place(_store: Store, text: str) -> str:
    """A place as `--place` takes it ("Skagen, Denmark"); UsageError for text that names no place."""
    try:
        place_condition(text)
    except ValueError as exc:
        raise UsageError(str(exc)) from None
    return " ".join(text.split())


def parse_event(store: Store, text: str) -> int:
    """An event by its id (`12` or `#12`); NotFoundError for an unknown one."""
    digits = text.strip().lstrip("#")
    if not digits.isdigit():  # the store answers a number past SQLite's integers with "no such event"
        raise UsageError(f"event: not an event id: {text!r}")
    return events.event(store, int(digits)).id


FACETS: tuple[Facet, ...] = (
    Facet("people", "person", "people", parse=parse_person, split=","),
    Facet("tags", "tag", "tags"),
    Facet("places", "place", "place", parse=parse_place, single=True),
    Facet("events", "event", "event", parse=parse_event, single=True),
)


@dataclass(frozen=True)
class Month:
    """A month with photos under the filter."""

    month: str  # 'YYYY-MM'
    count: int


@dataclass(frozen=True)
class Slice:
    """Photos offset .. offset + limit - 1 of a month, newest first."""

    month: str
    offset: int
    limit: int


@dataclass(frozen=True)
class TimelinePage:
    """One page of months: its slices, and the first slice of the pages before and after it."""

    number: int  # from 1
    pages: int
    slices: tuple[Slice, ...]
    previous: Slice | None
    next: Slice | None


@dataclass(frozen=True)
class FacetValue:
    """One value of a facet: what it puts in the filter, what a page shows, its photos under the filter."""

    value: int | str
    label: str
    count: int
    chosen: bool


@dataclass(frozen=True)
class FacetValues:
    """A facet's values, chosen ones first, then the most photos first."""

    name: str
    param: str
    values: list[FacetValue]


@dataclass(frozen=True)
class MonthPhotos:
    """One slice of a month and where the next begins (None: the month is complete)."""

    month: str
    offset: int
    photos: list[TimelineItem]
    more: int | None


@dataclass(frozen=True)
class Timeline:
    """One page of the timeline, read in one snapshot."""

    months: list[Month]
    total: int
    page: TimelinePage
    photos: dict[str, list[TimelineItem]]  # the page's photos by month, newest first ({}: not asked for)
    facets: list[FacetValues]


def check_month(text: str) -> str:
    """'YYYY-MM' from a request, or ValueError."""
    try:
        if not _MONTH.fullmatch(text):
            raise ValueError
        date_bounds(text)
    except ValueError:
        raise ValueError(f"not a month: {text!r} (use YYYY-MM)") from None
    return text


def _months(conn: sqlite3.Connection, flt: PhotoFilter) -> list[Month]:
    return [Month(month=m, count=n) for m, n in sql.months(conn, flt)]


def months(store: Store, flt: PhotoFilter) -> list[Month]:
    """Every month with a photo under the filter, newest first, with its photo count."""
    check_filter(flt)
    return store.read(lambda conn: _months(conn, flt))


def _pages(months: Sequence[Month], size: int) -> list[list[Slice]]:
    """Months packed into pages of at most `size` photos, in order: a month joins a page when it fits, and only
    a month larger than a page is cut (into page-sized slices)."""
    pages: list[list[Slice]] = []
    current: list[Slice] = []
    room = size
    for m in months:
        done = 0
        while done < m.count:
            left = m.count - done
            if left > room and current:
                pages.append(current)
                current, room = [], size
                continue
            take = min(left, room)
            current.append(Slice(month=m.month, offset=done, limit=take))
            done += take
            room -= take
            if room == 0:
                pages.append(current)
                current, room = [], size
    if current:
        pages.append(current)
    return pages


def paginate(months: Sequence[Month], month: str | None = None, offset: int = 0, *,
             size: int = PAGE_PHOTOS) -> TimelinePage:
    """The page holding photo `offset` of `month` (the first page without a month; a month without photos: the
    page of the next older one with photos, else the last page)."""
    pages = _pages(months, max(1, size))
    if not pages:
        return TimelinePage(number=1, pages=1, slices=(), previous=None, next=None)
    at = 0
    if month is not None:
        at = len(pages) - 1
        for i, slices in enumerate(pages):
            if any(s.month < month or (s.month == month and offset < s.offset + s.limit) for s in slices):
                at = i
                break
    return TimelinePage(number=at + 1, pages=len(pages), slices=tuple(pages[at]),
                        previous=pages[at - 1][0] if at > 0 else None,
                        next=pages[at + 1][0] if at + 1 < len(pages) else None)


def _page_photos(conn: sqlite3.Connection, flt: PhotoFilter, page: TimelinePage,
                 matching: int | None = None) -> dict[str, list[TimelineItem]]:
    """The photos of a page's slices, by month: one range read from its first slice to the end of its last
    (`matching`: the filter's photos, when known)."""
    if not page.slices:
        return {}
    first, last = page.slices[0], page.slices[-1]
    start, end = date_bounds(last.month)[0], date_bounds(first.month)[1]
    items = sql.photos_between(conn, flt, start, end, offset=first.offset,
                               limit=sum(s.limit for s in page.slices), matching=matching)
    shown: dict[str, list[TimelineItem]] = {s.month: [] for s in page.slices}
    for item in items:
        shown.setdefault(item.date[:7], []).append(item)
    return shown


def _month_photos(conn: sqlite3.Connection, flt: PhotoFilter, month: str, offset: int,
                  limit: int) -> MonthPhotos:
    start, end = date_bounds(month)
    items = sql.photos_between(conn, flt, start, end, offset=offset, limit=limit + 1)
    more = offset + limit if len(items) > limit else None
    return MonthPhotos(month=month, offset=offset, photos=items[:limit], more=more)


def month_photos(store: Store, flt: PhotoFilter, month: str, *, offset: int = 0,
                 limit: int = PAGE_PHOTOS) -> MonthPhotos:
    """Photos offset .. offset + limit - 1 of one month under the filter, newest first."""
    check_month(month)
    check_filter(flt)
    return store.read(lambda conn: _month_photos(conn, flt, month, max(0, offset), max(1, limit)))


def _under(flt: PhotoFilter) -> dict[str, PhotoFilter]:
    """The filter each facet counts its values under: a one-value facet under the rest of the filter (the other
    places, events, to switch to)."""
    return {facet.name: narrowed(flt, facet, []) if facet.single else flt for facet in FACETS}


def _facets(conn: sqlite3.Connection, flt: PhotoFilter, matching: int | None = None,
            counted: dict[str, list[FacetCount]] | None = None) -> list[FacetValues]:
    # The facets under one filter are counted in one read of its photos (`matching` of them, when known), but
    # those `counted` already.
    under = _under(flt)
    counted = dict(counted or {})
    for each in dict.fromkeys(under.values()):
        names = [name for name, f in under.items() if f == each and name not in counted]
        if names:
            counted.update(sql.facet_counts(conn, each, names, matching=matching if each == flt else None))
    result = []
    for facet in FACETS:
        field = getattr(flt, facet.field)
        chosen = ([] if field is None else [field]) if facet.single else list(field)
        chosen_keys = {str(v) for v in chosen}
        values = [FacetValue(value=c.value, label=c.label, count=c.count, chosen=str(c.value) in chosen_keys)
                  for c in counted.get(facet.name, [])]
        seen = {str(v.value) for v in values}
        # A chosen value no photo has any more (the rest of the filter rules them all out): still there to drop.
        missing = [FacetValue(value=v, label=f"#{v}" if isinstance(v, int) else str(v), count=0, chosen=True)
                   for v in chosen if str(v) not in seen]
        values = [v for v in values if v.chosen] + missing + [v for v in values if not v.chosen]
        result.append(FacetValues(name=facet.name, param=facet.param, values=values))
    return result


def facets(store: Store, flt: PhotoFilter) -> list[FacetValues]:
    """Each facet's values with their photo counts under the filter, the chosen ones first."""
    check_filter(flt)
    return store.read(lambda conn: _facets(conn, flt))


def timeline(store: Store, flt: PhotoFilter, *, month: str | None = None, offset: int = 0,
             size: int = PAGE_PHOTOS, photos: bool = True) -> Timeline:
    """The page of the timeline holding photo `offset` of `month` (default: the newest), with every month's
    count and the facets, in one read (`photos=False`: without the page's photos, for an answer that lists its
    own page of them: /photos as JSON). ValueError for a month or a date no search can take."""
    if month is not None:
        check_month(month)
    check_filter(flt)

    def read(conn: sqlite3.Connection) -> Timeline:
        # A filter on tags or people: its months and the facets counted under it in one read of its photos.
        both = sql.months_and_facets(conn, flt, [name for name, f in _under(flt).items() if f == flt])
        every = _months(conn, flt) if both is None else [Month(month=m, count=n) for m, n in both[0]]
        page = paginate(every, month, max(0, offset), size=size)
        total = sum(m.count for m in every)
        return Timeline(months=every, total=total, page=page,
                        photos=_page_photos(conn, flt, page, total) if photos else {},
                        facets=_facets(conn, flt, total, None if both is None else both[1]))
    return store.read(read)


def narrowed(flt: PhotoFilter, facet: Facet, values: Sequence[int | str]) -> PhotoFilter:
    """The filter with a facet's field set to these values."""
    change: dict[str, Any] = {facet.field: (values[-1] if values else None) if facet.single else tuple(values)}
    return dataclasses.replace(flt, **change)
