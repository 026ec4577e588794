"""daemon.metadata.geometry against Pillow's own transposes (all eight orientations), and xmpdoc's RDF forms:
every way of writing a property reads the same, and a rewrite keeps the document's meaning and prefixes."""

from __future__ import annotations

import itertools
from pathlib import Path

import pytest
from pictod_testdata import FACE_RECOGNITION
from PIL import Image
from xmp_tools import exiftool

from daemon.analysis import imaging
from daemon.metadata import find_sidecars, sidecar_for_write, xmpdoc
from daemon.metadata import geometry as geo
from daemon.metadata.read import read_packets

SIZE = (50, 30)  # stored width, height: not square, so a swapped axis shows


@pytest.mark.parametrize("orientation", range(1, 9))
def test_stored_to_oriented_matches_what_imaging_does_to_pixels(orientation: int) -> None:
    box = (5, 4, 20, 12)  # stored pixels
    mask = Image.new("L", SIZE, 0)
    mask.paste(255, box)
    transpose = imaging._TRANSPOSE.get(orientation)
    shown = mask.transpose(transpose) if transpose is not None else mask
    g = geo.Geometry(*SIZE, orientation)
    assert shown.size == (g.width, g.height)
    norm = (box[0] / SIZE[0], box[1] / SIZE[1], box[2] / SIZE[0], box[3] / SIZE[1])
    got = geo.to_pixels(geo.stored_to_oriented(norm, orientation), g)
    assert pytest.approx(got, abs=1e-9) == shown.getbbox()
    back = geo.oriented_to_stored(geo.stored_to_oriented(norm, orientation), orientation)
    assert pytest.approx(back, abs=1e-12) == norm


def test_displayed_frame_is_told_only_by_the_aspect_ratio() -> None:
    turned = geo.Geometry(4000, 3000, 6)
    assert not geo.regions_are_oriented(turned, (4000, 3000))  # MWG: stored size
    assert not geo.regions_are_oriented(turned, (2000, 1500))  # a scaled copy, stored frame
    assert geo.regions_are_oriented(turned, (3000, 4000))  # displayed size
    assert not geo.regions_are_oriented(geo.Geometry(4000, 3000, 3), (3000, 4000))  # 180: no axis swap
    assert not geo.regions_are_oriented(geo.Geometry(3000, 3000, 6), (3000, 3000))  # square: cannot tell
    assert not geo.regions_are_oriented(turned, None)


NS = ('xmlns:x="adobe:ns:meta/" xmlns:rdf="http://www.w3.org/1999/02/22-rdf-syntax-ns#" '
      'xmlns:mwg-rs="http://www.metadataworkinggroup.com/schemas/regions/" '
      'xmlns:stArea="http://ns.adobe.com/xmp/sType/Area#" xmlns:stDim="http://ns.adobe.com/xap/1.0/sType/Dimensions#" '
      'xmlns:Iptc4xmpExt="http://iptc.org/std/Iptc4xmpExt/2008-02-29/" xmlns:dc="http://purl.org/dc/elements/1.1/"')

AREA = 'stArea:x="0.5" stArea:y="0.4" stArea:w="0.2" stArea:h="0.1"'
FORMS = [
    # exiftool: parseType Resource everywhere
    '<mwg-rs:Regions rdf:parseType="Resource"><mwg-rs:RegionList><rdf:Bag><rdf:li rdf:parseType="Resource">'
    '<mwg-rs:Area rdf:parseType="Resource"><stArea:x>0.5</stArea:x><stArea:y>0.4</stArea:y><stArea:w>0.2</stArea:w>'
    '<stArea:h>0.1</stArea:h></mwg-rs:Area><mwg-rs:Name>Ana</mwg-rs:Name><mwg-rs:Type>Face</mwg-rs:Type></rdf:li>'
    '</rdf:Bag></mwg-rs:RegionList></mwg-rs:Regions>',
    # Adobe XMP toolkit / exiv2: rdf:Description with attributes, empty Area with attributes
    f'<mwg-rs:Regions><rdf:Description><mwg-rs:RegionList><rdf:Bag><rdf:li><rdf:Description mwg-rs:Name="Ana" '
    f'mwg-rs:Type="Face"><mwg-rs:Area {AREA}/></rdf:Description></rdf:li></rdf:Bag></mwg-rs:RegionList>'
    f'</rdf:Description></mwg-rs:Regions>',
    # attributes straight on rdf:li, qualified name with rdf:value
    f'<mwg-rs:Regions rdf:parseType="Resource"><mwg-rs:RegionList><rdf:Bag><rdf:li mwg-rs:Type="Face">'
    f'</rdf:li><rdf:li rdf:parseType="Resource"><mwg-rs:Name><rdf:Description><rdf:value>Ana</rdf:value>'
    f'</rdf:Description></mwg-rs:Name><mwg-rs:Area {AREA}/></rdf:li></rdf:Bag></mwg-rs:RegionList></mwg-rs:Regions>',
]


def _packet(body: str, attrs: str = "") -> bytes:
    return f'<x:xmpmeta {NS}><rdf:RDF><rdf:Description rdf:about="" {attrs}>{body}</rdf:Description>' \
           f"</rdf:RDF></x:xmpmeta>".encode()


@pytest.mark.parametrize("form", FORMS)
def test_every_rdf_form_of_a_region_reads_the_same(form: str) -> None:
    content = read_packets([_packet(form)], what="t")
    assert content.problems == []
    assert [(r.name, pytest.approx(r.box)) for r in content.regions] == [("Ana", (0.4, 0.35, 0.6, 0.45))]


def test_rewriting_keeps_meaning_and_prefixes() -> None:
    data = _packet(FORMS[1] + '<dc:subject><rdf:Bag><rdf:li>beach</rdf:li></rdf:Bag></dc:subject>'
                   '<dc:title><rdf:Alt><rdf:li xml:lang="de">Titel</rdf:li><rdf:li xml:lang="x-default">Title'
                   '</rdf:li></rdf:Alt></dc:title><my:thing xmlns:my="urn:example:my#">a &amp; b &lt;c&gt;</my:thing>',
                   attrs='Iptc4xmpExt:Event="Party"')
    doc = xmpdoc.parse(data, what="t")
    again = xmpdoc.serialize(doc, toolkit="test", own={})
    assert xmpdoc.properties(xmpdoc.parse(again, what="t2")) == xmpdoc.properties(doc)
    assert b"xmlns:my=" in again and b"<my:thing>a &amp; b &lt;c&gt;</my:thing>" in again
    assert xmpdoc.properties(doc)[("http://purl.org/dc/elements/1.1/", "title")] == ["Title", "Titel"]


def test_struct_node_normalises_every_form_without_changing_the_value() -> None:
    for form in FORMS:
        doc = xmpdoc.parse(_packet(form), what="t")
        prop = xmpdoc.descriptions(doc)[0][0]
        before = xmpdoc.value_of(prop)
        xmpdoc.struct_node(prop)
        assert xmpdoc.value_of(prop) == before


def test_a_real_exiftool_sidecar_survives_a_rewrite_with_the_same_properties(tmp_path: Path) -> None:
    sidecar = tmp_path / "obama.xmp"
    exiftool("-q", "-tagsfromfile", FACE_RECOGNITION / "obama.jpg", "-xmp:all", sidecar)
    doc = xmpdoc.parse(sidecar.read_bytes(), what="obama.xmp")
    again = xmpdoc.serialize(doc, toolkit="test", own={})
    assert xmpdoc.properties(xmpdoc.parse(again, what="again")) == xmpdoc.properties(doc)
    assert len(xmpdoc.properties(doc)) > 100


def test_sidecar_names(tmp_path: Path) -> None:
    photo = tmp_path / "IMG_7.JPG"
    photo.write_bytes(b"")
    assert find_sidecars(photo) == []
    assert sidecar_for_write(photo) == tmp_path / "IMG_7.JPG.xmp"
    for name in ("IMG_7.jpg.XMP", "IMG_7.xmp"):
        (tmp_path / name).write_bytes(b"")
    assert [p.name for p in find_sidecars(photo)] == ["IMG_7.jpg.XMP", "IMG_7.xmp"]
    assert sidecar_for_write(photo) == tmp_path / "IMG_7.jpg.XMP"
    listing = ["img_7.jpg.xmp", "IMG_7.JPG", "Img_7.Xmp", "other.xmp"]
    assert [p.name for p in find_sidecars(photo, listing)] == ["img_7.jpg.xmp", "Img_7.Xmp"]
    assert list(itertools.chain(find_sidecars(tmp_path / "none.jpg", listing))) == []


def test_iou_of_boxes() -> None:
    """The one IoU (daemon/types.py) used by the analysis, the metadata reader and writer, and the XMP import."""
    from daemon.types import iou
    assert iou((0, 0, 10, 10), (0, 0, 10, 10)) == 1.0
    assert iou((0, 0, 10, 10), (20, 20, 30, 30)) == 0.0
    assert iou((0, 0, 10, 10), (5, 0, 15, 10)) == pytest.approx(50 / 150)
    assert iou((0, 0, 0, 0), (0, 0, 0, 0)) == 0.0  # empty boxes overlap nothing
    assert iou((10, 10, 0, 0), (0, 0, 10, 10)) == 0.0  # an inverted box is empty
