"""`pictod faces`: move a face, reject it (from its person, or a suggested person), see suggestions, accept one."""

from __future__ import annotations

import argparse
import sys
from typing import TYPE_CHECKING, Any

from daemon import config as config_mod
from daemon.cli import review
from daemon.cli.output import EXIT_OK, EXIT_USAGE, add_common, answer, print_json, reader, row_id, table, writer

if TYPE_CHECKING:
    from daemon.store import Store


def _move(args: argparse.Namespace, store: Store, _cfg: config_mod.Config) -> int:
    from daemon.library import corrections
    corrections.move_face(store, args.face, args.person)
    return answer(args, {"ok": True, "result": None}, f"face {args.face} moved to person {args.person}")


def _reject(args: argparse.Namespace, store: Store, _cfg: config_mod.Config) -> int:
    from daemon.library import corrections
    if args.person is None:
        result = corrections.reject_face(store, args.face)
        message = f"face {args.face} rejected" + (f" from person {result}" if result is not None else
                                                   " (it was on no person)")
    else:
        corrections.reject_suggestion(store, args.face, args.person)
        result = args.person
        message = f"face {args.face} is not person {args.person}: never suggested or put there again"
    return answer(args, {"ok": True, "face_id": args.face, "person_id": result}, message)


def _suggest(args: argparse.Namespace, store: Store, cfg: config_mod.Config) -> int:
    from daemon.library import suggestions
    if args.person is not None:  # "is this P?": every face P may have, out to the review radius (issue 21)
        return review.print_candidates(args, store)
    if args.limit is not None or args.max_distance is not None or args.include_assigned:
        print("pictod faces suggest: --limit, --max-distance and --include-assigned go with --person P",
              file=sys.stderr)
        return EXIT_USAGE
    items = suggestions.suggest_faces(store, cfg.clustering)
    if args.json:
        print_json(items)
    elif not items:
        print("no suggestions")
    else:
        rows = [[i.face_id, i.photo_id, s.person_id, s.person_name or "", f"{s.distance:.3f}",
                 "top" if n == 0 else ""] for i in items for n, s in enumerate(i.suggestions)]
        print(table(rows, ["face", "photo", "person", "name", "distance", ""]))
        print(f"{len(items)} faces with suggestions; take one with `pictod faces accept FACE [PERSON]`")
    return EXIT_OK


def _accept(args: argparse.Namespace, store: Store, cfg: config_mod.Config) -> int:
    from daemon.library import suggestions
    done = suggestions.accept(store, cfg.clustering, args.face, args.person)
    return answer(args, {"ok": True, "face_id": done.face_id, "person_id": done.person_id},
                  f"face {done.face_id} is now on person {done.person_id} (kept across reclusters)")


def register(sub: Any) -> None:
    """Add `faces` and its actions."""
    faces = sub.add_parser("faces", help="correct face assignments, see and take suggestions")
    fsub = faces.add_subparsers(dest="faces_command", required=True, metavar="ACTION")
    face_action(fsub, "move", "move a face to another person (kept across reclusters)", _move,
                person_help="the person to move it to", person_needed=True)
    face_action(fsub, "reject", "this face is not its person, or not PERSON (a suggestion): kept across "
                "reclusters, never suggested again", _reject,
                person_help="the person it is not (default: the one it is on)")
    p = fsub.add_parser("suggest", help="people each unassigned face may be, nearest first, with distances "
                        "(clustering.suggest_eps, clustering.assign_k)")
    add_common(p)
    p.add_argument("--person", type=row_id, metavar="P",
                   help="the faces this person may also have, ranked by distance to its nearest faces, out to the "
                   "review radius (as `pictod review list P`)")
    review.add_candidate_options(p)
    p.set_defaults(func=reader(_suggest))
    face_action(fsub, "accept", "put a face on its top suggestion, or on PERSON (kept across reclusters); a face "
                "already on PERSON is pinned there", _accept,
                person_help="the person to take (default: the top suggestion)")


def face_action(fsub: Any, name: str, help_text: str, action: Any, *, person_help: str,
                person_needed: bool = False) -> None:
    """A `faces` action taking FACE [PERSON] that writes."""
    p = fsub.add_parser(name, help=help_text)
    add_common(p)
    p.add_argument("face", type=row_id)
    p.add_argument("person", type=row_id, nargs=None if person_needed else "?", help=person_help)
    p.set_defaults(func=writer(action))
