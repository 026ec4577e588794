"""A photo (and its sidecars) -> PhotoMetadata: named face regions in oriented pixels, names, keywords.

Sources, highest priority first: `photo.jpg.xmp`, `photo.xmp` (any case), then the XMP embedded in the photo
(standard and extended packets merged). A sidecar is what digiKam, darktable and Lightroom keep current, so
where a sidecar region and an embedded one cover the same face (IoU >= 0.5) the sidecar's is kept; the same
name twice is one region, two names are a conflict reported in `ignored`.

In one packet, MWG regions (`mwg-rs:Regions`) are used; Microsoft's (`MP:RegionInfo`) only when the packet has
no MWG region, as digiKam and ExifToolGUI read them (digiKam writes both for the same faces).

Bad input never raises: each unusable packet, region or name becomes an `Ignored` entry with a one-line reason.
"""

from __future__ import annotations

import math
from collections.abc import Collection, Iterable
from dataclasses import dataclass, field
from pathlib import Path

from daemon.errors import MetadataError
from daemon.metadata import geometry as geo
from daemon.metadata import schema as S
from daemon.metadata import sidecars as sc
from daemon.metadata import xmpdoc
from daemon.metadata.containers import read_photo
from daemon.metadata.model import FaceRegion, Ignored, PhotoMetadata, PlaceNames, SidecarInfo, clean_name
from daemon.metadata.xmpdoc import Struct, Value, text, texts
from daemon.metadata.xmpdoc import field as xfield
from daemon.types import iou

MAX_REGIONS = 100
MAX_KEYWORDS = 500
DUPLICATE_IOU = 0.5
WHOLE_IMAGE = 0.98  # a face region this large is a placeholder (digiKam bug 437708, a Lumia phone)
MIN_INSIDE = 0.5  # a region at least half outside the photo is not trusted


@dataclass(frozen=True)
class RawRegion:
    """A region as written: normalised box in the frame of the packet (stored unless `oriented`)."""

    name: str
    box: geo.Norm
    schema: str
    key: str | None


@dataclass
class PacketContent:
    """What one source holds for pictod."""

    regions: list[RawRegion] = field(default_factory=list)
    applied: tuple[float, float] | None = None  # AppliedToDimensions (w, h) of the MWG regions
    names: list[str] = field(default_factory=list)  # names without a usable region
    keywords: list[str] = field(default_factory=list)
    problems: list[MetadataError] = field(default_factory=list)
    place: PlaceNames | None = None  # photoshop:City/State/Country another tool wrote


def read_metadata(
    photo: Path, *, embedded: bool = True, sidecars: bool = True, listing: Collection[str] | None = None
) -> PhotoMetadata:
    """Everything pictod reads from one photo's metadata; never raises for bad metadata or a bad photo."""
    ignored: list[Ignored] = []
    geometry: geo.Geometry | None = None
    sources: list[tuple[str, bool, PacketContent]] = []
    infos: list[SidecarInfo] = []
    if sidecars:
        for path in sc.find_sidecars(photo, listing):
            try:
                data = sc.read_sidecar_bytes(path)
            except MetadataError as exc:
                ignored.append(Ignored(path.name, str(exc)))
                infos.append(SidecarInfo(path, None, False))
                continue
            infos.append(SidecarInfo(path, sc.sha256(data), sc.written_by_pictod(data)))
            sources.append((path.name, True, read_packets([data], what=path.name)))
    try:
        found = read_photo(photo, packets=embedded)
    except MetadataError as exc:
        ignored.append(Ignored(photo.name, str(exc)))
    else:
        geometry = found.geometry
        ignored.extend(Ignored(photo.name, str(problem)) for problem in found.problems)
        if found.packets:
            sources.append((photo.name, False, read_packets(list(found.packets), what=photo.name)))
    return _combine(sources, geometry, infos, ignored)


def read_packets(packets: list[bytes], *, what: str) -> PacketContent:
    """Standard packet first, then extended ones: their properties merged, then read as one source."""
    props: Struct = {}
    content = PacketContent()
    for index, data in enumerate(packets):
        if not any(uri in data for uri in S.INTERESTING):
            continue  # nothing pictod reads: not parsed at all
        label = what if index == 0 else f"{what} (extended XMP)"
        try:
            doc = xmpdoc.parse(data, what=label)
        except MetadataError as exc:
            content.problems.append(exc)
            continue
        for key, value in xmpdoc.properties(doc).items():
            props.setdefault(key, value)
    _extract(props, content, what)
    return content


def _extract(props: Struct, content: PacketContent, what: str) -> None:
    mwg, unplaced = _mwg_regions(props, content, what)
    if mwg:
        content.regions = mwg
    else:
        mp, mp_unplaced = _mp_regions(props, content, what)
        content.regions = mp
        unplaced += mp_unplaced
    names = list(unplaced)
    names += texts(props.get((S.IPTC_EXT, "PersonInImage")))
    names += _people_tags(texts(props.get((S.DIGIKAM, "TagsList"))), "/")
    names += _people_tags(texts(props.get((S.LR, "hierarchicalSubject"))), "|")
    for raw in names:
        try:
            content.names.append(clean_name(raw, what=what))
        except MetadataError as exc:
            content.problems.append(exc)
    for raw in texts(props.get((S.DC, "subject"))):
        try:
            content.keywords.append(clean_name(raw, what=what))
        except MetadataError as exc:
            content.problems.append(exc)
    content.place = _place_names(props, what, content.problems)


def _place_names(props: Struct, what: str, problems: list[MetadataError]) -> PlaceNames | None:
    """photoshop:City, State and Country, leaving out those pictod wrote itself (its `pictod:Place` ledger)."""
    own = set(texts(props.get((S.PICTOD, "Place"))))
    found: dict[str, str | None] = {}
    for local in S.PLACE_FIELDS:
        raw = text(props.get((S.PHOTOSHOP, local)))
        if raw is None or local in own:
            continue
        try:
            found[local] = clean_name(raw, what=what)
        except MetadataError as exc:
            problems.append(exc)
    if not found:
        return None
    return PlaceNames(city=found.get("City"), state=found.get("State"), country=found.get("Country"))


def _people_tags(tags: list[str], separator: str) -> list[str]:
    """Leaf names of `People<sep>...` tags, without digiKam's own Unknown/Unconfirmed/Ignored."""
    names = []
    for tag in tags:
        parts = [part.strip() for part in tag.split(separator)]
        if len(parts) < 2 or parts[0] != S.PEOPLE_ROOT or not parts[-1]:
            continue
        if len(parts) == 2 and parts[1].lower() in S.DIGIKAM_PEOPLE_RESERVED:
            continue
        names.append(parts[-1])
    return names


def _mwg_regions(props: Struct, content: PacketContent, what: str) -> tuple[list[RawRegion], list[str]]:
    info = props.get((S.MWG_RS, "Regions"))
    if not isinstance(info, dict):
        return [], []
    content.applied = _dimensions(xfield(info, S.MWG_RS, "AppliedToDimensions"))
    regions: list[RawRegion] = []
    unplaced: list[str] = []
    items = xfield(info, S.MWG_RS, "RegionList")
    for item in items if isinstance(items, list) else []:
        if not isinstance(item, dict):
            continue
        kind = text(xfield(item, S.MWG_RS, "Type"))
        raw_name = text(xfield(item, S.MWG_RS, "Name"))
        if (kind is not None and kind.strip().lower() != "face") or not raw_name or not raw_name.strip():
            continue  # pets, focus areas, barcodes; unnamed faces say nothing pictod can use
        try:
            name = clean_name(raw_name, what=what)
            area = xfield(item, S.MWG_RS, "Area")
            if not isinstance(area, dict):
                unplaced.append(name)
                continue
            box = _mwg_box(area, content.applied, name, what)
        except MetadataError as exc:
            content.problems.append(exc)
            continue
        regions.append(RawRegion(name, box, "mwg", _pictod_key(item)))
    return regions, unplaced


def _pictod_key(item: Struct) -> str | None:
    extensions = xfield(item, S.MWG_RS, "Extensions")
    if isinstance(extensions, dict):
        return text(extensions.get((S.PICTOD, "Key")))
    return None


def _dimensions(value: Value | None) -> tuple[float, float] | None:
    if not isinstance(value, dict):
        return None
    try:
        w = float(text(xfield(value, S.ST_DIM, "w")) or "nan")
        h = float(text(xfield(value, S.ST_DIM, "h")) or "nan")
    except ValueError:
        return None
    return (w, h) if math.isfinite(w) and math.isfinite(h) and w > 0 and h > 0 else None


def _number(value: Value | None, label: str, name: str, what: str) -> float:
    raw = text(value)
    try:
        number = float(raw) if raw is not None else math.nan
    except ValueError:
        number = math.nan
    if not math.isfinite(number):
        raise MetadataError("bad_region", f"{what}: region {name!r} has no usable {label} ({raw!r})")
    return number


def _mwg_box(area: Struct, applied: tuple[float, float] | None, name: str, what: str) -> geo.Norm:
    x, y, w, h = (_number(xfield(area, S.ST_AREA, k), k, name, what) for k in ("x", "y", "w", "h"))
    unit = (text(xfield(area, S.ST_AREA, "unit")) or "normalized").strip().lower()
    if unit == "pixel" and applied is not None:
        x, w = x / applied[0], w / applied[0]
        y, h = y / applied[1], h / applied[1]
    elif unit not in ("normalized", "normalised"):
        raise MetadataError("bad_region", f"{what}: region {name!r} uses unit {unit!r} without dimensions")
    return _checked_box(x - w / 2, y - h / 2, w, h, name, what)


def _checked_box(left: float, top: float, w: float, h: float, name: str, what: str) -> geo.Norm:
    if w <= 0 or h <= 0:
        raise MetadataError("bad_region", f"{what}: region {name!r} has zero or negative size")
    if w >= WHOLE_IMAGE and h >= WHOLE_IMAGE:
        raise MetadataError("bad_region", f"{what}: region {name!r} covers the whole photo")
    box = (left, top, left + w, top + h)
    inside = geo.clip(box)
    if geo.area(inside) < MIN_INSIDE * geo.area(box):
        raise MetadataError("bad_region", f"{what}: region {name!r} lies outside the photo")
    return inside


def _mp_regions(props: Struct, content: PacketContent, what: str) -> tuple[list[RawRegion], list[str]]:
    info = props.get((S.MP, "RegionInfo"))
    items = xfield(info, S.MPRI, "Regions") if isinstance(info, dict) else None
    regions: list[RawRegion] = []
    unplaced: list[str] = []
    for item in items if isinstance(items, list) else []:
        if not isinstance(item, dict):
            continue
        raw_name = text(xfield(item, S.MPREG, "PersonDisplayName"))
        if not raw_name or not raw_name.strip() or raw_name.strip().lower() == S.MP_IGNORED_FACE:
            continue
        try:
            name = clean_name(raw_name, what=what)
            rect = text(xfield(item, S.MPREG, "Rectangle"))
            if not rect:
                unplaced.append(name)
                continue
            parts = [part.strip() for part in rect.split(",")]
            if len(parts) != 4:
                raise MetadataError("bad_region", f"{what}: region {name!r} rectangle {rect!r} is not x, y, w, h")
            left, top, w, h = (_number(part, "rectangle", name, what) for part in parts)
            box = _checked_box(left, top, w, h, name, what)
        except MetadataError as exc:
            content.problems.append(exc)
            continue
        regions.append(RawRegion(name, box, "mp", None))
    return regions, unplaced


def _combine(
    sources: list[tuple[str, bool, PacketContent]],
    geometry: geo.Geometry | None,
    infos: list[SidecarInfo],
    ignored: list[Ignored],
) -> PhotoMetadata:
    regions: list[FaceRegion] = []
    names: list[str] = []
    keywords: list[str] = []
    # The first source naming a place gives it (sidecars come before the embedded packet, as for regions).
    place = next((content.place for _s, _side, content in sources if content.place is not None), None)
    for source, is_sidecar, content in sources:
        ignored.extend(Ignored(source, str(problem)) for problem in content.problems)
        if content.regions and geometry is None:
            ignored.append(Ignored(source, f"unplaced: {source}: the photo's size and orientation are unknown, "
                                           f"{len(content.regions)} region(s) not placed"))
        _place(content, source, is_sidecar, geometry, regions, ignored)
        names.extend(content.names)
        keywords.extend(content.keywords)
    placed = {region.name.casefold() for region in regions}
    unique_names = _unique(name for name in names if name.casefold() not in placed)
    people = placed | {name.casefold() for name in unique_names}
    unique_keywords = _unique(keyword for keyword in keywords if keyword.casefold() not in people)[:MAX_KEYWORDS]
    return PhotoMetadata(
        width=geometry.width if geometry else 0,
        height=geometry.height if geometry else 0,
        orientation=geometry.orientation if geometry else 1,
        regions=tuple(regions),
        names=tuple(unique_names),
        keywords=tuple(unique_keywords),
        sidecars=tuple(infos),
        ignored=tuple(ignored),
        place=place,
    )


def _place(
    content: PacketContent,
    source: str,
    is_sidecar: bool,
    geometry: geo.Geometry | None,
    regions: list[FaceRegion],
    ignored: list[Ignored],
) -> None:
    """Add a source's regions to `regions` in oriented pixels, unless a higher-priority one covers the face."""
    if geometry is None:
        return
    oriented = geo.regions_are_oriented(geometry, content.applied)
    for raw in content.regions:
        box = raw.box if oriented else geo.stored_to_oriented(raw.box, geometry.orientation)
        region = FaceRegion(raw.name, geo.to_pixels(box, geometry), source, is_sidecar,
                            "mwg" if raw.schema == "mwg" else "mp", raw.key)
        clash = next((kept for kept in regions if iou(kept.box, region.box) >= DUPLICATE_IOU), None)
        if clash is not None:
            if clash.name.casefold() != region.name.casefold():
                ignored.append(Ignored(source, f"conflict: {source}: region {region.name!r} covers the face "
                                               f"{clash.source} names {clash.name!r}; kept {clash.name!r}"))
            continue
        if len(regions) >= MAX_REGIONS:
            ignored.append(Ignored(source, f"too_many: {source}: more than {MAX_REGIONS} face regions"))
            break
        regions.append(region)


def _unique(values: Iterable[str]) -> list[str]:
    seen: set[str] = set()
    result = []
    for value in values:
        key = value.casefold()
        if key not in seen:
            seen.add(key)
            result.append(value)
    return result
