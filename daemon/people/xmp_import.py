"""Names from other tools' XMP metadata (issue 13) become people: which face each named region is, which names
pin which faces, which regions become imported faces. Pure planning on plain records; the store applies a plan in
one transaction (`Store.record_analysis(..., imports=plan)` for a new photo, `Store.import_metadata` for a changed
sidecar), so the imports are corrections of their own (source 'xmp').

Regions match detected faces one to one, greedily by IoU (>= 0.5, both in oriented pixels); a matched face is
pinned to the person of that name (casefold; created and curated if new); a named region with no face becomes an
imported face (its crop embedded by the caller); a name without a region is used only when the photo has one name,
no region and one face. A face the user corrected after its last import is never touched, and importing name X onto
a face of person Y moves the face: it never renames or merges Y.
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence

from daemon.metadata import FaceRegion, PhotoMetadata, SidecarInfo
from daemon.store.metadata import PhotoFace
from daemon.store.rows import ImportPlan, RegionFace, SidecarSeen
from daemon.types import Box, DetectedFace, iou

MATCH_IOU = 0.5


def importable(meta: PhotoMetadata,
               written_digest: str | None = None) -> tuple[tuple[FaceRegion, ...], tuple[str, ...]]:
    """The regions and names to import: a sidecar that is exactly pictod's own last write is its echo, skipped."""
    own = {s.path.name for s in meta.sidecars if _own(s, written_digest)}
    regions = tuple(r for r in meta.regions if not (r.sidecar and r.source in own))
    names = () if own and not regions and all(s.path.name in own for s in meta.sidecars) else meta.names
    return regions, names


def _own(info: SidecarInfo, written_digest: str | None) -> bool:
    return info.pictod_unchanged and info.digest is not None and info.digest == written_digest


def match_regions(regions: Sequence[FaceRegion], boxes: Sequence[Box]) -> tuple[dict[int, int], list[int]]:
    """Regions onto face boxes one to one, greedily by IoU descending (>= MATCH_IOU): ({region: box}, unmatched)."""
    pairs = sorted(((iou(r.box, b), ri, bi) for ri, r in enumerate(regions) for bi, b in enumerate(boxes)),
                   reverse=True)
    matched: dict[int, int] = {}
    used: set[int] = set()
    for score, ri, bi in pairs:
        if score < MATCH_IOU:
            break
        if ri in matched or bi in used:
            continue
        matched[ri] = bi
        used.add(bi)
    return matched, [ri for ri in range(len(regions)) if ri not in matched]


def unmatched_regions(meta: PhotoMetadata, boxes: Sequence[Box], written_digest: str | None = None
                      ) -> list[FaceRegion]:
    """The named regions no face box covers: the caller embeds their crops before planning."""
    regions, _names = importable(meta, written_digest)
    _matched, rest = match_regions(_unique(regions), boxes)
    return [_unique(regions)[i] for i in rest]


def _unique(regions: Sequence[FaceRegion]) -> list[FaceRegion]:
    """One region per name: the same person twice in one photo is a metadata error, the first (by priority) wins."""
    seen: set[str] = set()
    out: list[FaceRegion] = []
    for region in regions:
        if region.name.casefold() not in seen:
            seen.add(region.name.casefold())
            out.append(region)
    return out


def new_photo_faces(boxes: Sequence[Box]) -> list[PhotoFace]:
    """The faces of a photo being recorded, as the planner sees them (detected, on nobody, never corrected)."""
    return [PhotoFace(0, tuple(map(float, b)), None, None, "detected", False)  # type: ignore[arg-type]
            for b in boxes]


def plan_import(meta: PhotoMetadata, current: Sequence[PhotoFace], embedded: Mapping[FaceRegion, DetectedFace], *,
                written_digest: str | None = None, reimport: bool = False, resync: bool = False) -> ImportPlan:
    """What one photo's names and regions do to its faces (`current`: as stored, or `new_photo_faces` of a photo
    being recorded; `embedded`: the crops of regions no face covers, from `Analyzer.embed_regions`: a region
    missing there is left for the next import). With `reimport`, this photo's earlier imports are replaced: its
    imported corrections dropped, imported faces without a region any more deleted."""
    regions, names = importable(meta, written_digest)
    unique = _unique(regions)
    matched, rest = match_regions(unique, [f.box for f in current])
    pins: list[tuple[int, str]] = []
    skipped = 0
    kept_imported: set[int] = set()
    for ri, fi in matched.items():
        face = current[fi]
        if face.source == "xmp":
            kept_imported.add(face.id)
        if face.protected:
            skipped += 1
            continue
        pins.append((fi, unique[ri].name))
    new_faces = tuple(RegionFace(region.box, region.name, crop.landmarks, crop.embedding)
                      for region in (unique[ri] for ri in rest) if (crop := embedded.get(region)) is not None)
    drop = tuple(f.id for f in current if f.source == "xmp" and f.id not in kept_imported and not f.protected) \
        if reimport else ()
    used_names = 0
    if not regions and len(names) == 1:
        open_faces = [i for i, f in enumerate(current) if f.source == "detected"]
        if len(open_faces) == 1 and not current[open_faces[0]].protected:
            pins.append((open_faces[0], names[0]))
            used_names = 1
    return ImportPlan(pins=tuple(pins), face_ids=tuple(f.id for f in current) if reimport else None,
                      new_faces=new_faces, drop_faces=drop, reimport=reimport, sidecar=sidecar_seen(meta),
                      resync=resync, regions=len(regions), matched=len(matched), names=used_names, skipped=skipped,
                      place=None if meta.place is None else (meta.place.city, meta.place.state, meta.place.country))


def sidecar_seen(meta: PhotoMetadata) -> SidecarSeen:
    """The first sidecar the metadata came from as it is on disk now (stat), for the store to remember."""
    if not meta.sidecars:
        return SidecarSeen()
    info = meta.sidecars[0]
    try:
        st = info.path.stat()
    except OSError:
        return SidecarSeen(str(info.path), None, None, info.digest)
    return SidecarSeen(str(info.path), st.st_size, st.st_mtime_ns, info.digest)
