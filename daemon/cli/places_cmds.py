"""`pictod places` (place -> photos) and `pictod events` (list, show, rename) of issue 25; registered by
`daemon.cli.main.build_parser`. The use cases are `daemon/library/places.py` and `daemon/library/events.py`."""

from __future__ import annotations

import argparse
from typing import TYPE_CHECKING, Any

from daemon import config as config_mod
from daemon.cli.output import EXIT_OK, add_common, answer, print_json, reader, row_id, safe, table, writer

if TYPE_CHECKING:
    from daemon.store import Store


def _places(args: argparse.Namespace, store: Store, _cfg: config_mod.Config) -> int:
    from daemon.library import places
    counts = places.place_counts(store)
    waiting = places.unplaced_count(store)
    if args.json:
        print_json({"places": counts, "unplaced": waiting})
        return EXIT_OK
    if counts:
        print(table([[c.city or "", c.region or "", c.country or "", c.photos] for c in counts],
                    ["city", "region", "country", "photos"]))
    else:
        print("no places yet (only photos with a GPS position have one)")
    if waiting:
        print(f"{waiting} photo(s) with a GPS position not placed yet: the daemon (or `pictod scan`) names them")
    return EXIT_OK


def _span(start: str, end: str) -> str:
    first, last = start[:10], end[:10]
    return first if first == last else f"{first} .. {last}"


def _events(args: argparse.Namespace, store: Store, _cfg: config_mod.Config) -> int:
    from daemon.library import events
    rows = events.list_events(store)
    if args.json:
        print_json(rows)
    elif not rows:
        print("no events yet (photos with an EXIF capture time are grouped into events)")
    else:
        print(table([[e.id, e.title, _span(e.start_at, e.end_at), e.photos] for e in rows],
                    ["id", "event", "dates", "photos"]))
        print(f"{len(rows)} event(s), newest first; `pictod photos --event ID` lists one's photos")
    return EXIT_OK


def _show(args: argparse.Namespace, store: Store, _cfg: config_mod.Config) -> int:
    from daemon.library import events
    row = events.event(store, args.id)
    return answer(args, row, f"event {row.id}: {safe(row.title)}"
                  + (f" (pictod's name: {safe(row.auto_name)})" if row.name else "")
                  + f"\n{_span(row.start_at, row.end_at)}, {row.photos} photo(s)")


def _rename(args: argparse.Namespace, store: Store, _cfg: config_mod.Config) -> int:
    from daemon.library import events
    row = events.rename(store, args.id, args.name)
    return answer(args, row, f"event {row.id} is now {safe(repr(row.name))} (kept when its photos regroup)"
                  if row.name else f"event {row.id} has pictod's name again: {safe(repr(row.auto_name))}")


def register(sub: Any) -> None:
    """Add `places` and `events`."""
    p = sub.add_parser("places", help="places (city, region, country) with their photo counts, most first",
                       description="Places are named offline from each photo's GPS position (GeoNames towns of "
                       "1,000 people or more, within 50 km) or from another tool's XMP (photoshop:City, State, "
                       "Country), which wins.")
    add_common(p)
    p.set_defaults(func=reader(_places))

    ev = sub.add_parser("events", help="events: photos grouped by time and place (\"Skagen, June 2019\")",
                        description="Photos with an EXIF capture time are grouped into events: a pause longer "
                        "than [events] gap_hours, or a move farther than split_km, starts a new one.")
    add_common(ev)
    ev.set_defaults(func=reader(_events))
    esub = ev.add_subparsers(dest="events_command", metavar="ACTION")
    p = esub.add_parser("show", help="one event: its name, dates and photo count")
    add_common(p)
    p.add_argument("id", type=row_id)
    p.set_defaults(func=reader(_show))
    p = esub.add_parser("rename", help="name an event (kept when its photos regroup); \"\" gives pictod's back")
    add_common(p)
    p.add_argument("id", type=row_id)
    p.add_argument("name")
    p.set_defaults(func=writer(_rename))
