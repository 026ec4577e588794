"""`pictod photos` (the search: tags, people, dates, camera, place) and `pictod tags`."""

from __future__ import annotations

import argparse
from typing import TYPE_CHECKING, Any

from daemon import config as config_mod
from daemon.cli.output import EXIT_OK, add_common, print_json, reader, row_id, safe, table

if TYPE_CHECKING:
    from daemon.store import Store


def _near(text: str) -> tuple[float, float, float]:
    """argparse type of --near: LAT,LON[,KM] (KM defaults to 1)."""
    parts = text.split(",")
    try:
        if len(parts) not in (2, 3):
            raise ValueError
        lat, lon = float(parts[0]), float(parts[1])
        km = float(parts[2]) if len(parts) == 3 else 1.0
    except ValueError:
        raise argparse.ArgumentTypeError(f"expected LAT,LON[,KM] in degrees and km, got {text!r}") from None
    if not (-90 <= lat <= 90 and -180 <= lon <= 180 and km >= 0):
        raise argparse.ArgumentTypeError(f"latitude -90..90, longitude -180..180, km >= 0: got {text!r}")
    return lat, lon, km


def _positive(text: str) -> int:
    """argparse type: an integer >= 0."""
    try:
        value = int(text)
    except ValueError:
        raise argparse.ArgumentTypeError(f"expected a whole number, got {text!r}") from None
    if value < 0:
        raise argparse.ArgumentTypeError(f"expected a number >= 0, got {value}")
    return value


def _when(text: str) -> str:
    """argparse type of --since/--until: checked here so a typo is a usage error (exit 2)."""
    from daemon.library import photos
    try:
        photos.date_bounds(text)
    except ValueError as exc:
        raise argparse.ArgumentTypeError(str(exc)) from None
    return text


def _place(text: str) -> str:
    """argparse type of --place: at least one name."""
    if not text.replace(",", "").strip():
        raise argparse.ArgumentTypeError(f"expected a city, region or country name, got {text!r}")
    return text


def _photos(args: argparse.Namespace, store: Store, _cfg: config_mod.Config) -> int:
    from daemon.library import photos
    flt = photos.PhotoFilter(
        tags=tuple(args.tag or ()), people=tuple(args.person or ()), any_person=args.any_person,
        no_people=args.no_people, since=args.since, until=args.until, camera=args.camera, near=args.near,
        place=args.place, event=args.event, kind=args.kind, sort=args.sort, descending=args.reverse,
        limit=args.limit, offset=args.offset)
    hits = photos.search_photos(store, flt)
    if args.json:
        print_json(hits)
    elif args.paths:
        for hit in hits:
            for path in hit.paths:
                print(safe(path))
    elif not hits:
        print("no photos match")
    else:
        rows = []
        for hit in hits:
            people = sorted({f.person_name or str(f.person_id) for f in hit.faces if f.person_id is not None})
            tags = sorted({o.label for o in hit.objects})
            date = hit.date.replace("T", " ")[:16] + ("" if hit.date_source == "exif" else " (file)")
            where = ", ".join(n for n in (hit.place.city, hit.place.country) if n) if hit.place else ""
            kind = (f"video {_clock(hit.duration or 0)}" if hit.kind == "video" else
                    "live" if hit.live_video is not None else "photo")
            seen = "; ".join(_seen_text(m) for m in hit.seen)
            rows.append([hit.paths[0] + (f" (+{len(hit.paths) - 1})" if len(hit.paths) > 1 else ""), kind, date,
                         hit.camera or "", where, ",".join(tags), ", ".join(people), seen])
        print(table(rows, ["item", "kind", "date", "camera", "place", "objects", "people", "seen at"]))
        print(f"{len(hits)} item(s); date: EXIF capture time, or the file's modification time where marked "
              "(file)")
    return EXIT_OK


def _clock(seconds: float) -> str:
    """Seconds -> m:ss (h:mm:ss from an hour)."""
    whole = round(seconds)
    hours, rest = divmod(whole, 3600)
    return f"{hours}:{rest // 60:02d}:{rest % 60:02d}" if hours else f"{rest // 60}:{rest % 60:02d}"


def _seen_text(match: Any) -> str:
    who = f"#{match.person_id}" if match.person_id is not None else match.tag
    return f"{who} " + ", ".join(_clock(a) if round(a) == round(b) else f"{_clock(a)}-{_clock(b)}"
                                 for a, b in match.spans)


def _tags(args: argparse.Namespace, store: Store, _cfg: config_mod.Config) -> int:
    from daemon.library import reads
    counts = reads.tag_counts(store)
    if args.json:
        print_json(counts)
    else:
        print(table(sorted(counts.items(), key=lambda kv: (-kv[1], kv[0])), ["tag", "photos"])
              if counts else "no tags yet")
    return EXIT_OK


def register(sub: Any) -> None:
    """Add `photos` and `tags`."""
    p = sub.add_parser("photos", help="search photos: tags, people, dates, camera, place (conditions combine with AND)",
                       epilog="dates: the EXIF capture time, else the file's modification time (local time); "
                       "--json says which in date_source")
    add_common(p)
    p.add_argument("--tag", action="append", metavar="LABEL",
                   help="COCO object label, e.g. person, cat, cup; repeat: every tag must be present")
    p.add_argument("--person", action="append", metavar="ID|NAME",
                   help="person id or exact name; repeat: every person must be in the photo")
    who = p.add_mutually_exclusive_group()
    who.add_argument("--any-person", action="store_true", help="at least one face assigned to a person")
    who.add_argument("--no-people", action="store_true", help="no face assigned to any person")
    p.add_argument("--since", type=_when, metavar="DATE", help="from this date: YYYY[-MM[-DD[THH:MM[:SS]]]]")
    p.add_argument("--until", type=_when, metavar="DATE", help="up to and including this date (same forms)")
    p.add_argument("--camera", metavar="TEXT", help="camera make/model contains TEXT (case-insensitive)")
    p.add_argument("--near", type=_near, metavar="LAT,LON[,KM]", help="taken within KM (default 1) of a place")
    p.add_argument("--place", type=_place, metavar="TEXT",
                   help="taken in this city, region or country (case- and accent-insensitive; "
                   "\"Capital Region, Iceland\": every part must match); see `pictod places`")
    p.add_argument("--event", type=row_id, metavar="ID", help="in this event (see `pictod events`)")
    p.add_argument("--kind", choices=("photo", "video"), help="only photos (a Live Photo is its still) or videos")

    p.add_argument("--sort", choices=("path", "date"), default="path", help="order (default: path)")
    p.add_argument("--reverse", action="store_true", help="reverse the order (newest first with --sort date)")
    p.add_argument("--limit", type=_positive, metavar="N", help="at most N photos")
    p.add_argument("--offset", type=_positive, default=0, metavar="N", help="skip the first N photos")
    p.add_argument("--paths", action="store_true", help="print only the paths, one per line (for xargs)")
    p.set_defaults(func=reader(_photos))

    p = sub.add_parser("tags", help="object tags with photo counts")
    add_common(p)
    p.set_defaults(func=reader(_tags))
