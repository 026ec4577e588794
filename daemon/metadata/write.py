"""SidecarContent -> the photo's XMP sidecar, keeping everything pictod did not write. Never touches the photo.

What pictod writes (all in one rdf:Description, in the forms exiftool and digiKam write):
- `mwg-rs:Regions`: `AppliedToDimensions` (stored pixels), one `RegionList` item per named face with `Area`
  (stArea x/y centre, w/h, normalised, in the stored frame as MWG asks), `Name`, `Type` Face, and
  `mwg-rs:Extensions/pictod:Key`: the mark that tells pictod's regions from everyone else's;
- for a video (`SidecarContent.regions` False) no regions, only the names below;
- `Iptc4xmpExt:PersonInImage` <name>, `digiKam:TagsList` People/<name>, `lr:hierarchicalSubject` People|<name>,
  and object keywords in `dc:subject` when asked;
- `photoshop:City`, `State`, `Country`: the geocoder's place, only where no other tool wrote any of the three
  (another tool's place is kept whole and wins; `pictod:Place` lists the fields pictod wrote);
- `pictod:PersonInImage` etc.: the entries pictod itself added to those shared lists, so a rename removes
  the old name pictod wrote but never one another tool or the user put there; `pictod:Digest` (see sidecars.py).

On rewrite: items of the shared lists pictod added before are replaced, regions carrying pictod's mark are
replaced, and every other property, region and list item is kept. A region of another tool with the same name
on the same face (IoU >= 0.5) stands for pictod's: no duplicate is written. An existing sidecar that is not
valid XMP is left as it is (skipped with the reason), never overwritten. A sidecar that would hold nothing but
pictod's bookkeeping is removed.
"""

from __future__ import annotations

import math
import os
import stat
import xml.etree.ElementTree as ET
from collections.abc import Collection
from pathlib import Path

from daemon import __version__
from daemon.errors import MetadataError
from daemon.metadata import geometry as geo
from daemon.metadata import schema as S
from daemon.metadata import sidecars as sc
from daemon.metadata import xmpdoc
from daemon.metadata.containers import geometry_of
from daemon.metadata.model import NamedFace, PlaceNames, SidecarContent, WriteResult, clean_name
from daemon.metadata.read import DUPLICATE_IOU, RawRegion, read_packets
from daemon.metadata.xmpdoc import RDF, Document, qname
from daemon.types import iou

TOOLKIT = f"pictod {__version__}"
ATTEMPTS = 3  # re-read and retry when another program writes the sidecar while pictod does

# The shared lists pictod adds to: (namespace, property, array kind, how a name becomes an item).
_MANAGED = (
    (S.IPTC_EXT, "PersonInImage", "Bag", lambda name: name),
    (S.DIGIKAM, "TagsList", "Seq", lambda name: f"{S.PEOPLE_ROOT}/{name.replace('/', chr(92))}"),
    (S.LR, "hierarchicalSubject", "Bag", lambda name: f"{S.PEOPLE_ROOT}|{name.replace('|', '/')}"),
)
_KEYWORDS = (S.DC, "subject", "Bag")
_PARSE_TYPE = qname(RDF, "parseType")


def write_sidecar(
    photo: Path,
    content: SidecarContent,
    *,
    geometry: geo.Geometry | None = None,
    target: Path | None = None,
    listing: Collection[str] | None = None,
) -> WriteResult:
    """Bring pictod's part of the photo's sidecar in step with `content`; never raises for bad files."""
    target = target or sc.sidecar_for_write(photo, listing)
    for _ in range(ATTEMPTS):
        try:
            return _write_once(photo, content, geometry, target)
        except sc.ChangedMeanwhile:
            continue
        except MetadataError as exc:
            return WriteResult(target, "skipped", reason=str(exc))
    return WriteResult(target, "skipped", reason=f"busy: {target.name}: changed by another program "
                                                 f"{ATTEMPTS} times while pictod was writing it; try again")


def _write_once(photo: Path, content: SidecarContent, geometry: geo.Geometry | None, target: Path) -> WriteResult:
    if os.path.islink(target):
        resolved = Path(os.path.realpath(target))
        if not resolved.exists():
            raise MetadataError("not_a_file", f"{target.name}: is a dangling symbolic link")
        target = resolved  # write through the link: the user's link keeps pointing where it did
    before, existing = _existing(target)
    if existing is None and not content.faces and not content.keywords and content.place is None:
        return WriteResult(target, "absent")
    try:
        doc = xmpdoc.parse(existing, what=target.name) if existing is not None else xmpdoc.new_document(TOOLKIT)
    except MetadataError as exc:
        raise MetadataError(exc.reason, f"{exc.message}; left as it is") from None
    dropped: list[str] = []
    faces = _valid_faces(content.faces, dropped, target.name)
    keywords = _valid_keywords(content.keywords, dropped, target.name)
    if faces and geometry is None and content.regions:
        geometry = geometry_of(photo)
    _apply(doc, faces, keywords, geometry, dropped, target.name, content.place, regions=content.regions)
    if not _has_foreign_properties(doc):
        if existing is None:
            return WriteResult(target, "absent", dropped=tuple(dropped))
        if not sc.same_file_state(before, target):
            raise sc.ChangedMeanwhile()
        target.unlink()
        sc.fsync_directory(target.parent)
        return WriteResult(target, "removed", dropped=tuple(dropped))
    data, _ = sc.seal(xmpdoc.serialize(doc, toolkit=TOOLKIT, own={S.PICTOD: S.PICTOD_PREFIX}))
    digest = sc.sha256(data)  # what SidecarInfo.digest will say of this file
    if existing == data:  # the digest is a function of the rest: equal bytes iff pictod's own, unchanged
        return WriteResult(target, "unchanged", digest=digest, dropped=tuple(dropped))
    sc.replace_atomically(target, data, before=before)
    return WriteResult(target, "written", digest=digest, dropped=tuple(dropped))


def _existing(target: Path) -> tuple[os.stat_result | None, bytes | None]:
    try:
        before = os.stat(target)
    except FileNotFoundError:
        return None, None
    except OSError as exc:
        raise MetadataError("unreadable", f"{target.name}: {exc.strerror or exc}") from None
    if not stat.S_ISREG(before.st_mode):
        kind = "a directory" if stat.S_ISDIR(before.st_mode) else "not a regular file"
        raise MetadataError("not_a_file", f"{target.name}: is {kind}; left as it is")
    try:
        data = sc.read_sidecar_bytes(target)
    except MetadataError as exc:
        raise MetadataError(exc.reason, f"{exc.message}; left as it is") from None
    return before, data


def _valid_faces(faces: tuple[NamedFace, ...], dropped: list[str], what: str) -> list[NamedFace]:
    valid = []
    for face in faces:
        try:
            name = clean_name(face.name, what=what)
        except MetadataError as exc:
            dropped.append(str(exc))
            continue
        x1, y1, x2, y2 = face.box
        if not all(map(math.isfinite, face.box)) or not (x2 > x1 and y2 > y1):
            dropped.append(f"bad_region: {what}: face {face.key} of {name!r} has an empty box")
            continue
        if not face.key or any(ord(ch) < 32 for ch in face.key):
            dropped.append(f"bad_region: {what}: face of {name!r} has no usable key")
            continue
        valid.append(NamedFace(name, face.box, face.key))
    return valid


def _valid_keywords(keywords: tuple[str, ...], dropped: list[str], what: str) -> list[str]:
    valid: list[str] = []
    for keyword in keywords:
        try:
            cleaned = clean_name(keyword, what=what)
        except MetadataError as exc:
            dropped.append(str(exc))
            continue
        if cleaned not in valid:
            valid.append(cleaned)
    return valid


# --- editing the tree -------------------------------------------------------------------------------------------


def _find(doc: Document, ns: str, local: str) -> tuple[ET.Element, ET.Element] | None:
    """(rdf:Description, property element) of a top-level property written as an element."""
    tag = qname(ns, local)
    for desc in xmpdoc.descriptions(doc):
        for child in desc:
            if child.tag == tag:
                return desc, child
    return None


def _has_attribute(doc: Document, ns: str, local: str) -> bool:
    return any(qname(ns, local) in desc.attrib for desc in xmpdoc.descriptions(doc))


def _apply(
    doc: Document,
    faces: list[NamedFace],
    keywords: list[str],
    geometry: geo.Geometry | None,
    dropped: list[str],
    what: str,
    place: PlaceNames | None = None,
    *,
    regions: bool = True,
) -> None:
    descs = xmpdoc.descriptions(doc)
    if not descs:
        descs = [ET.SubElement(doc.rdf, qname(RDF, "Description"), {qname(RDF, "about"): ""})]
    home = descs[0]
    ledger = _take_ledger(doc)
    _apply_regions(doc, home, faces if regions else [], geometry, dropped, what)
    names = list(dict.fromkeys(face.name for face in faces))
    new_ledger: dict[str, list[str]] = {}
    for ns, local, kind, fmt in _MANAGED:
        new_ledger[local] = _apply_list(doc, home, ns, local, kind, [fmt(n) for n in names], ledger.get(local, []),
                                        dropped, what)
    ns, local, kind = _KEYWORDS
    new_ledger[local] = _apply_list(doc, home, ns, local, kind, keywords, ledger.get(local, []), dropped, what)
    new_ledger["Place"] = _apply_place(doc, home, place, ledger.get("Place", []))
    for local, added in new_ledger.items():
        if added:
            container = xmpdoc.new_array(home, qname(S.PICTOD, local), "Bag")
            for item in added:
                xmpdoc.add_text(container, qname(RDF, "li"), item)
    xmpdoc.add_text(home, qname(S.PICTOD, "Digest"), sc.DIGEST_PLACEHOLDER.decode())
    for desc in xmpdoc.descriptions(doc)[1:]:
        if not list(desc) and all(xmpdoc.split(name)[0] in (RDF, xmpdoc.XML) for name in desc.attrib):
            doc.rdf.remove(desc)


def _apply_place(doc: Document, home: ET.Element, place: PlaceNames | None, previously: list[str]) -> list[str]:
    """photoshop:City/State/Country: pictod's earlier fields replaced by `place`, unless another tool wrote any
    of the three (its place is kept whole); the fields pictod wrote now."""
    own = set(previously)
    found: dict[str, list[tuple[ET.Element, ET.Element | None]]] = {}
    for local in S.PLACE_FIELDS:
        tag = qname(S.PHOTOSHOP, local)
        for desc in xmpdoc.descriptions(doc):
            found.setdefault(local, []).extend((desc, child) for child in desc if child.tag == tag)
            if tag in desc.attrib:
                found.setdefault(local, []).append((desc, None))
    for local, where in found.items():
        if local not in own:
            continue
        for desc, child in where:  # pictod's earlier value: replaced below (or dropped)
            if child is None:
                del desc.attrib[qname(S.PHOTOSHOP, local)]
            else:
                desc.remove(child)
    if place is None or any(where and local not in own for local, where in found.items()):
        return []
    written = []
    for local, value in zip(S.PLACE_FIELDS, (place.city, place.state, place.country), strict=True):
        if value:
            xmpdoc.add_text(home, qname(S.PHOTOSHOP, local), value)
            written.append(local)
    return written


def _take_ledger(doc: Document) -> dict[str, list[str]]:
    """Read and remove every pictod property (element or attribute form); return the lists it recorded."""
    ledger: dict[str, list[str]] = {}
    for desc in xmpdoc.descriptions(doc):
        for child in list(desc):
            ns, local = xmpdoc.split(child.tag)
            if ns == S.PICTOD:
                if local != "Digest":
                    ledger.setdefault(local, []).extend(xmpdoc.texts(xmpdoc.value_of(child)))
                desc.remove(child)
        for name in list(desc.attrib):
            if xmpdoc.split(name)[0] == S.PICTOD:
                del desc.attrib[name]
    return ledger


def _apply_list(
    doc: Document,
    home: ET.Element,
    ns: str,
    local: str,
    kind: str,
    wanted: list[str],
    previously_added: list[str],
    dropped: list[str],
    what: str,
) -> list[str]:
    """Replace the items pictod added earlier with `wanted`; return the items pictod added now."""
    found = _find(doc, ns, local)
    if found is None:
        if _has_attribute(doc, ns, local):
            if wanted:
                dropped.append(f"not_an_array: {what}: {local} is a single value there; left as it is")
            return []
        if not wanted:
            return []
        container = xmpdoc.new_array(home, qname(ns, local), kind)
        for item in wanted:
            xmpdoc.add_text(container, qname(RDF, "li"), item)
        return list(wanted)
    desc, prop = found
    arr = xmpdoc.array_items(prop)
    if arr is None:
        if wanted:
            dropped.append(f"not_an_array: {what}: {local} is not a list there; left as it is")
        return []
    container, items = arr
    old = set(previously_added)
    for li in items:
        if (li.text or "") in old and not list(li):
            container.remove(li)
    present = {(li.text or "") for li in container}
    added = []
    for item in wanted:
        if item not in present:
            xmpdoc.add_text(container, qname(RDF, "li"), item)
            present.add(item)
            added.append(item)
        elif item in old:
            added.append(item)  # pictod's own item, kept in place: still pictod's
    if not list(container):
        desc.remove(prop)
    return added


def _apply_regions(
    doc: Document,
    home: ET.Element,
    faces: list[NamedFace],
    geometry: geo.Geometry | None,
    dropped: list[str],
    what: str,
) -> None:
    found = _find(doc, S.MWG_RS, "Regions")
    region_list: ET.Element | None = None
    container: ET.Element | None = None
    applied_el: ET.Element | None = None
    foreign: list[RawRegion] = []
    node: ET.Element | None = None
    if found is not None:
        node = xmpdoc.struct_node(found[1])
        for child in node:
            if child.tag == qname(S.MWG_RS, "RegionList"):
                region_list = child
            elif child.tag == qname(S.MWG_RS, "AppliedToDimensions"):
                applied_el = child
        if region_list is not None:
            arr = xmpdoc.array_items(region_list)
            if arr is None:
                if faces:
                    dropped.append(f"not_an_array: {what}: its RegionList is not a list; regions left as they are")
                return
            container, items = arr
            for li in items:
                value = xmpdoc.value_of(li)
                if isinstance(value, dict) and _is_pictods(value):
                    container.remove(li)
            foreign = _foreign_regions(doc)
    if not faces:
        if found is not None and region_list is not None and container is not None and not list(container):
            found[1].remove(region_list)
            if all(child.tag == qname(S.MWG_RS, "AppliedToDimensions") for child in found[1]):
                found[0].remove(found[1])
        return
    assert geometry is not None
    if node is None:
        node = ET.SubElement(home, qname(S.MWG_RS, "Regions"), {_PARSE_TYPE: "Resource"})
    oriented = False
    if foreign and applied_el is not None:
        applied = read_packets_applied(applied_el)
        oriented = geo.regions_are_oriented(geometry, applied)
    else:
        if applied_el is not None:
            node.remove(applied_el)
        applied_el = ET.Element(qname(S.MWG_RS, "AppliedToDimensions"), {_PARSE_TYPE: "Resource"})
        xmpdoc.add_text(applied_el, qname(S.ST_DIM, "w"), str(geometry.stored_width))
        xmpdoc.add_text(applied_el, qname(S.ST_DIM, "h"), str(geometry.stored_height))
        xmpdoc.add_text(applied_el, qname(S.ST_DIM, "unit"), "pixel")
        node.insert(0, applied_el)
    if container is None:
        container = xmpdoc.new_array(node, qname(S.MWG_RS, "RegionList"), "Bag")
    for face in faces:
        box = geo.clip(geo.to_normalised(face.box, geometry))
        if geo.area(box) <= 0:
            dropped.append(f"bad_region: {what}: face {face.key} of {face.name!r} lies outside the photo")
            continue
        written = box if oriented else geo.oriented_to_stored(box, geometry.orientation)
        if any(r.name.casefold() == face.name.casefold() and iou(r.box, written) >= DUPLICATE_IOU
               for r in foreign):
            continue  # another tool already marks this face with this name
        container.append(_region_item(face.name, written, face.key))


def read_packets_applied(applied_el: ET.Element) -> tuple[float, float] | None:
    """AppliedToDimensions (w, h) from its element."""
    value = xmpdoc.value_of(applied_el)
    try:
        w = float(xmpdoc.text(xmpdoc.field(value, S.ST_DIM, "w")) or "nan")
        h = float(xmpdoc.text(xmpdoc.field(value, S.ST_DIM, "h")) or "nan")
    except ValueError:
        return None
    return (w, h) if w > 0 and h > 0 else None


def _is_pictods(item: xmpdoc.Struct) -> bool:
    extensions = xmpdoc.field(item, S.MWG_RS, "Extensions")
    return isinstance(extensions, dict) and (S.PICTOD, "Key") in extensions


def _foreign_regions(doc: Document) -> list[RawRegion]:
    """The regions left in the document (pictod's removed), as the reader sees them."""
    content = read_packets([xmpdoc.serialize(doc, toolkit=TOOLKIT, own={S.PICTOD: S.PICTOD_PREFIX})], what="")
    return [region for region in content.regions if region.schema == "mwg"]  # MP ones are not in this list


def _number(value: float) -> str:
    text = f"{value:.6f}".rstrip("0").rstrip(".")
    return text if text not in ("", "-0") else "0"


def _region_item(name: str, box: geo.Norm, key: str) -> ET.Element:
    li = ET.Element(qname(RDF, "li"), {_PARSE_TYPE: "Resource"})
    area = ET.SubElement(li, qname(S.MWG_RS, "Area"), {_PARSE_TYPE: "Resource"})
    w, h = box[2] - box[0], box[3] - box[1]
    for field_name, value in (("x", box[0] + w / 2), ("y", box[1] + h / 2), ("w", w), ("h", h)):
        xmpdoc.add_text(area, qname(S.ST_AREA, field_name), _number(value))
    xmpdoc.add_text(area, qname(S.ST_AREA, "unit"), "normalized")
    xmpdoc.add_text(li, qname(S.MWG_RS, "Name"), name)
    xmpdoc.add_text(li, qname(S.MWG_RS, "Type"), "Face")
    extensions = ET.SubElement(li, qname(S.MWG_RS, "Extensions"), {_PARSE_TYPE: "Resource"})
    xmpdoc.add_text(extensions, qname(S.PICTOD, "Key"), key)
    return li


def _has_foreign_properties(doc: Document) -> bool:
    """True when the document holds any property that is not pictod's bookkeeping."""
    for desc in xmpdoc.descriptions(doc):
        for child in desc:
            if xmpdoc.split(child.tag)[0] != S.PICTOD:
                return True
        for name in desc.attrib:
            if xmpdoc.split(name)[0] not in (RDF, xmpdoc.XML, S.PICTOD, ""):
                return True
    return False
