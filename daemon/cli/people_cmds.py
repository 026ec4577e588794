"""`pictod people`: list people, show one (with a contact sheet), name, merge, accept a person's suggestions,
make a new person of chosen faces."""

from __future__ import annotations

import argparse
from pathlib import Path
from typing import TYPE_CHECKING, Any

from daemon import config as config_mod
from daemon.cli.output import EXIT_OK, add_common, answer, jsonable, print_json, reader, row_id, safe, table, writer

if TYPE_CHECKING:
    from daemon.store import Store


def _people(args: argparse.Namespace, store: Store, _cfg: config_mod.Config) -> int:
    from daemon.library import reads
    rows = [jsonable(r) for r in reads.list_people(store)]
    if args.json:
        print_json(rows)
    elif not rows:
        print("no people yet")
    else:
        print(table([[r["id"], r.get("name") or "", r["faces"], r["photos"]] for r in rows],
                    ["id", "name", "faces", "photos"]))
    return EXIT_OK


def _show(args: argparse.Namespace, store: Store, cfg: config_mod.Config) -> int:
    from daemon.library import reads, sheet
    detail = jsonable(reads.person_detail(store, args.id))
    sheet_faces: list[Any] = []
    if args.sheet:
        sheet_faces = sheet.write_contact_sheet(store, args.id, Path(args.sheet), limits=cfg.analysis)
        detail["sheet"] = str(args.sheet)
        detail["sheet_faces"] = jsonable(sheet_faces)
    if args.json:
        print_json(detail)
        return EXIT_OK
    print(f"person {detail['id']}: {detail.get('name') or '(unnamed)'}, "
          f"{detail['faces']} faces in {detail['photos']} photos")
    rows = [[f["id"], f["path"] or "(no file)", " ".join(str(round(v)) for v in f["box"]),
             "pinned" if f["pinned"] else ""] for f in detail["face_list"]]
    print(table(rows, ["face", "photo", "box", ""]))
    if args.sheet:
        print(f"\ncontact sheet: {safe(str(args.sheet))} ({len(sheet_faces)} faces, left to right, top to "
              "bottom; each tile shows #face id and distance to the person)")
        print(table([[f.position, f.face_id, "" if f.distance is None else f"{f.distance:.3f}", f.path]
                     for f in sheet_faces], ["tile", "face", "distance", "photo"]))
    return EXIT_OK


def _name(args: argparse.Namespace, store: Store, _cfg: config_mod.Config) -> int:
    from daemon.library import corrections
    done = corrections.name_person(store, args.id, args.name)
    return answer(args, {"ok": True, "result": done},
                  f"person {done.id} is now {safe(done.name)}" if done.name else f"person {done.id} has no name")


def _merge(args: argparse.Namespace, store: Store, _cfg: config_mod.Config) -> int:
    from daemon.library import corrections
    done = corrections.merge_people(store, args.a, args.b)
    return answer(args, {"ok": True, "result": done}, f"person {args.b} merged into {args.a}")


def _accept(args: argparse.Namespace, store: Store, cfg: config_mod.Config) -> int:
    from daemon.library import suggestions
    done = suggestions.accept_all(store, cfg.clustering, args.id, max_distance=args.max_distance)
    return answer(args, {"ok": True, "person_id": done.person_id, "accepted": done.accepted,
                         "passed_over": done.passed_over}, done.message())


def _new(args: argparse.Namespace, store: Store, _cfg: config_mod.Config) -> int:
    from daemon.library import corrections
    person = corrections.new_person(store, args.faces, name=args.name)
    return answer(args, {"ok": True, "person_id": person, "face_ids": args.faces, "name": args.name},
                  f"person {person} made from faces {', '.join(map(str, args.faces))}"
                  + (f", named {safe(args.name)}" if args.name else ""))


def register(sub: Any) -> None:
    """Add `people` and its actions."""
    people = sub.add_parser("people", help="list, inspect, name and merge people")
    add_common(people)
    people.set_defaults(func=reader(_people))
    psub = people.add_subparsers(dest="people_command", metavar="ACTION")
    p = psub.add_parser("show", help="a person's faces; --sheet writes a contact sheet PNG")
    add_common(p)
    p.add_argument("id", type=row_id)
    p.add_argument("--sheet", metavar="FILE.png", help="write a contact sheet of this person's face crops")
    p.set_defaults(func=reader(_show))
    p = psub.add_parser("name", help="name a person (kept across reclusters)")
    add_common(p)
    p.add_argument("id", type=row_id)
    p.add_argument("name")
    p.set_defaults(func=writer(_name))
    p = psub.add_parser("merge", help="merge person B into person A (kept across reclusters)")
    add_common(p)
    p.add_argument("a", type=row_id)
    p.add_argument("b", type=row_id)
    p.set_defaults(func=writer(_merge))
    p = psub.add_parser("accept", help="accept every face whose top suggestion is this person, one face per photo "
                        "(the nearest; kept across reclusters)")
    add_common(p)
    p.add_argument("id", type=row_id, metavar="PERSON")
    p.add_argument("--max-distance", type=float, metavar="D",
                   help="only suggestions at most this distance (default: clustering.suggest_eps)")
    p.set_defaults(func=writer(_accept))
    p = psub.add_parser("new", help="make a person from chosen faces (at most one per photo; kept across "
                        "reclusters)")
    add_common(p)
    p.add_argument("faces", type=row_id, nargs="+", metavar="FACE")
    p.add_argument("--name", help="name the new person")
    p.set_defaults(func=writer(_new))
