"""`pictod review`: the same-person review (issue 21) on the command line, registered by
`daemon.cli.main.build_parser`. `review list PERSON` prints the faces the person may also have, nearest first,
with their distances; `review answer PERSON FACE yes|no|skip` answers one; `review undo PERSON` takes the last
answer back. The rules are in `daemon/library/review.py`; `print_candidates` is also what `pictod faces suggest
--person P` is meant to call once the CLI split lands (see the branch's report).
"""

from __future__ import annotations

import argparse
from typing import TYPE_CHECKING, Any

from daemon import config as config_mod
from daemon.cli.output import EXIT_OK, EXIT_USAGE, add_common, print_json, reader, row_id, table, writer

if TYPE_CHECKING:
    from daemon.store import Store


def _distance(text: str) -> float:
    try:
        value = float(text)
    except ValueError:
        raise argparse.ArgumentTypeError(f"not a number: {text!r}") from None
    if not 0.0 <= value <= 2.0:
        raise argparse.ArgumentTypeError("a cosine distance in [0, 2]")
    return value


def _count(text: str) -> int:
    if not text.isdigit() or int(text) < 1:
        raise argparse.ArgumentTypeError(f"a whole number >= 1, got {text!r}")
    return int(text)


def print_candidates(args: argparse.Namespace, store: Store, _cfg: config_mod.Config | None = None) -> int:
    """The ranked candidates of `args.person` (table or --json)."""
    from daemon.library import review

    items = review.candidates(store, args.person, limit=args.limit, max_distance=args.max_distance,
                              include_assigned=args.include_assigned)
    if args.json:
        print_json(items)
    elif not items:
        print(f"no faces to review for person {args.person}")
    else:
        rows = [[c.face_id, c.photo_id, f"{c.distance:.3f}", f"{c.rank:.3f}",
                 "" if c.person_id is None else f"{c.person_id} {c.person_name or ''}".strip(),
                 "skipped" if c.skipped else ""] for c in items]
        print(table(rows, ["face", "photo", "distance", "rank", "on person", ""]))
        print(f"{len(items)} face(s) to review; answer with `pictod review answer {args.person} FACE yes|no|skip`")
    return EXIT_OK


def _answer(args: argparse.Namespace, store: Store, _cfg: config_mod.Config) -> int:
    from daemon.library import review

    review.answer(store, args.person, args.face, args.verdict)
    if args.json:
        print_json({"person_id": args.person, "face_id": args.face, "answer": args.verdict})
    else:
        said = {"yes": "is", "no": "is not", "skip": "skipped for"}[args.verdict]
        print(f"face {args.face} {said} person {args.person}; `pictod review undo {args.person}` takes it back")
    return EXIT_OK


def _undo(args: argparse.Namespace, store: Store, _cfg: config_mod.Config) -> int:
    from daemon.library import review

    done = review.undo(store, args.person)
    if args.json:
        print_json(None if done is None else {"person_id": args.person, "face_id": done[0], "answer": done[1]})
    elif done is None:
        print(f"nothing to undo for person {args.person}")
    else:
        print(f"undone: face {done[0]} {done[1]} for person {args.person}")
    return EXIT_OK if done is not None else EXIT_USAGE


def add_candidate_options(p: argparse.ArgumentParser) -> None:
    """--limit, --max-distance, --include-assigned (also for `faces suggest --person`)."""
    p.add_argument("--limit", type=_count, metavar="N", help="at most N faces")
    p.add_argument("--max-distance", type=_distance, metavar="D",
                   help="faces at most this cosine distance from the person's nearest face (default: the review "
                        "radius, 0.6)")
    p.add_argument("--include-assigned", action="store_true",
                   help="faces on other people too (maybe two people are one)")


def register(sub: Any) -> None:
    """Add `pictod review` and its subcommands."""
    review = sub.add_parser("review", help="is this the same person? faces a person may also have, nearest first")
    rsub = review.add_subparsers(dest="review_command", required=True, metavar="COMMAND")
    p = rsub.add_parser("list", help="the faces to ask about for PERSON, nearest first, with distances")
    add_common(p)
    p.add_argument("person", type=row_id, help="person id")
    add_candidate_options(p)
    p.set_defaults(func=reader(print_candidates))
    p = rsub.add_parser("answer", help="answer one: FACE is (yes), is not (no) PERSON, or skip it")
    add_common(p)
    p.add_argument("person", type=row_id, help="person id")
    p.add_argument("face", type=row_id, help="face id")
    p.add_argument("verdict", choices=("yes", "no", "skip"))
    p.set_defaults(func=writer(_answer))
    p = rsub.add_parser("undo", help="take back the last answer for PERSON (exit 2 if there is none)")
    add_common(p)
    p.add_argument("person", type=row_id, help="person id")
    p.set_defaults(func=writer(_undo))
