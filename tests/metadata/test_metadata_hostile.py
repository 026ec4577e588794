"""Hostile and broken metadata: each is ignored with a one-line reason, never a crash, never a network access,
and what else the photo has is still read. The writer never overwrites what it cannot parse."""

from __future__ import annotations

import http.server
import os
import shutil
import struct
import threading
import zlib
from collections.abc import Iterator
from pathlib import Path
from typing import ClassVar

import pytest
from pictod_testdata import SKIMAGE
from PIL import Image
from xmp_tools import PHOTO, exiftool, region_arg

from daemon.metadata import NamedFace, SidecarContent, read_metadata, write_sidecar
from daemon.metadata.xmpdoc import MAX_PACKET_BYTES

FACE = (104.0, 162.0, 180.0, 238.0)  # one of dlib's boxes on PHOTO


def _xmp(body: str, *, doctype: str = "") -> bytes:
    return (f'<?xml version="1.0"?>{doctype}<x:xmpmeta xmlns:x="adobe:ns:meta/">'
            '<rdf:RDF xmlns:rdf="http://www.w3.org/1999/02/22-rdf-syntax-ns#">'
            '<rdf:Description rdf:about="" xmlns:mwg-rs="http://www.metadataworkinggroup.com/schemas/regions/" '
            'xmlns:stArea="http://ns.adobe.com/xmp/sType/Area#" '
            'xmlns:Iptc4xmpExt="http://iptc.org/std/Iptc4xmpExt/2008-02-29/">'
            f"{body}</rdf:Description></rdf:RDF></x:xmpmeta>").encode()


def _region(name: str, x: str, y: str, w: str, h: str) -> str:
    return (f'<rdf:li rdf:parseType="Resource"><mwg-rs:Name>{name}</mwg-rs:Name><mwg-rs:Type>Face</mwg-rs:Type>'
            f'<mwg-rs:Area stArea:x="{x}" stArea:y="{y}" stArea:w="{w}" stArea:h="{h}" stArea:unit="normalized"/>'
            "</rdf:li>")


def _regions(*items: str) -> str:
    return f'<mwg-rs:Regions rdf:parseType="Resource"><mwg-rs:RegionList><rdf:Bag>{"".join(items)}' \
           "</rdf:Bag></mwg-rs:RegionList></mwg-rs:Regions>"


GOOD = _region("Ana Müller", "0.284", "0.533", "0.152", "0.203")


@pytest.fixture(scope="module")
def tagged(tmp_path_factory: pytest.TempPathFactory) -> Path:
    """PHOTO with one good region embedded by exiftool, so every test also checks the rest is still read."""
    path = tmp_path_factory.mktemp("tagged") / "photo.jpg"
    shutil.copy(PHOTO, path)
    size = Image.open(PHOTO).size
    exiftool("-q", "-overwrite_original", region_arg(*size, [("Björn Ek", (232.0, 218.0, 295.0, 281.0))],
                                                     normalise=size), path)
    return path


@pytest.fixture
def photo(tagged: Path, tmp_path: Path) -> Path:
    path = tmp_path / "photo.jpg"
    shutil.copy(tagged, path)
    return path


def _sidecar(photo: Path, data: bytes) -> Path:
    path = photo.with_name(photo.name + ".xmp")
    path.write_bytes(data)
    return path


def _codes(meta: object) -> list[str]:
    return [entry.reason.split(":")[0] for entry in meta.ignored]  # type: ignore[attr-defined]


def _embedded_still_read(meta: object) -> None:
    assert "Björn Ek" in [region.name for region in meta.regions]  # type: ignore[attr-defined]


def test_malformed_sidecar(photo: Path) -> None:
    _sidecar(photo, _xmp(_regions(GOOD))[:-40])
    meta = read_metadata(photo)
    assert _codes(meta) == ["malformed"]
    assert "not well-formed" in meta.ignored[0].reason and "\n" not in meta.ignored[0].reason
    _embedded_still_read(meta)


def test_billion_laughs_is_refused(photo: Path) -> None:
    entities = '<!ENTITY a0 "lol">' + "".join(f'<!ENTITY a{i} "{f"&a{i - 1};" * 10}">' for i in range(1, 10))
    _sidecar(photo, _xmp(_regions(_region("&a9;", "0.5", "0.5", "0.1", "0.1")),
                         doctype=f"<!DOCTYPE x:xmpmeta [{entities}]>"))
    meta = read_metadata(photo)
    assert _codes(meta) == ["forbidden"]
    _embedded_still_read(meta)


def test_external_entity_to_a_local_file_is_refused(photo: Path, tmp_path: Path) -> None:
    secret = tmp_path / "secret.txt"
    secret.write_text("TOP-SECRET-MARKER")
    _sidecar(photo, _xmp(_regions(_region("&leak;", "0.5", "0.5", "0.1", "0.1")),
                         doctype=f'<!DOCTYPE x:xmpmeta [<!ENTITY leak SYSTEM "file://{secret}">]>'))
    meta = read_metadata(photo)
    assert _codes(meta) == ["forbidden"]
    assert "TOP-SECRET-MARKER" not in repr(meta)


def test_a_doctype_alone_is_refused(photo: Path) -> None:
    _sidecar(photo, _xmp(_regions(GOOD), doctype="<!DOCTYPE x:xmpmeta>"))
    assert _codes(read_metadata(photo)) == ["forbidden"]


class _Counter(http.server.BaseHTTPRequestHandler):
    hits: ClassVar[list[str]] = []

    def do_GET(self) -> None:
        _Counter.hits.append(self.path)
        self.send_response(200)
        self.end_headers()
        self.wfile.write(b'<!ENTITY x "fetched">')

    def log_message(self, format: str, *args: object) -> None:  # quiet
        return


@pytest.fixture
def loopback_server() -> Iterator[str]:
    """A counting HTTP server on 127.0.0.1 (never another address); stopped after the test."""
    _Counter.hits = []
    server = http.server.ThreadingHTTPServer(("127.0.0.1", 0), _Counter)
    thread = threading.Thread(target=server.serve_forever, kwargs={"poll_interval": 0.05}, daemon=True)
    thread.start()
    try:
        yield f"http://127.0.0.1:{server.server_address[1]}"
    finally:
        server.shutdown()
        server.server_close()
        thread.join(timeout=5)


def test_no_network_access_for_entities_dtds_xinclude_or_resources(photo: Path, loopback_server: str) -> None:
    base = loopback_server
    cases = [
        _xmp(_regions(GOOD), doctype=f'<!DOCTYPE x:xmpmeta SYSTEM "{base}/dtd">'),
        _xmp(_regions(_region("&e;", "0.5", "0.5", "0.1", "0.1")),
             doctype=f'<!DOCTYPE x:xmpmeta [<!ENTITY e SYSTEM "{base}/entity">]>'),
        _xmp(_regions(GOOD), doctype=f'<!DOCTYPE x:xmpmeta [<!ENTITY % p SYSTEM "{base}/param"> %p;]>'),
        _xmp(f'<xi:include xmlns:xi="http://www.w3.org/2001/XInclude" href="{base}/xinclude"/>' + _regions(GOOD)),
        _xmp(f'<Iptc4xmpExt:PersonInImage rdf:resource="{base}/resource"/>' + _regions(GOOD)),
    ]
    for data in cases:
        _sidecar(photo, data)
        read_metadata(photo)
        write_sidecar(photo, SidecarContent(faces=(NamedFace("Ana Müller", FACE, "face:1"),)))
    assert _Counter.hits == []


def test_huge_sidecar(photo: Path) -> None:
    padding = "<!-- " + "x" * (MAX_PACKET_BYTES + 10) + " -->"
    _sidecar(photo, _xmp(_regions(GOOD) + padding))
    meta = read_metadata(photo)
    assert _codes(meta) == ["too_large"]
    _embedded_still_read(meta)


def test_huge_extended_xmp_in_a_jpeg(tmp_path: Path) -> None:
    """ExtendedXMP segments declaring a packet past the limit: not joined, not held; the standard packet is read."""
    path = tmp_path / "huge.jpg"
    data = PHOTO.read_bytes()
    guid = b"0" * 32
    standard = _xmp(f'<xmpNote:HasExtendedXMP xmlns:xmpNote="http://ns.adobe.com/xmp/note/">{guid.decode()}'
                    f"</xmpNote:HasExtendedXMP>" + _regions(GOOD))
    segments = [b"\xff\xe1" + struct.pack(">H", len(standard) + 31) + b"http://ns.adobe.com/xap/1.0/\x00" + standard]
    total, chunk = 40 * MAX_PACKET_BYTES, b"x" * 65000
    for offset in range(0, 65000 * 4, 65000):
        body = b"http://ns.adobe.com/xmp/extension/\x00" + guid + struct.pack(">II", total, offset) + chunk
        segments.append(b"\xff\xe1" + struct.pack(">H", len(body) + 2) + body)
    path.write_bytes(data[:2] + b"".join(segments) + data[2:])
    meta = read_metadata(path)
    assert _codes(meta) == ["too_large"]
    assert [region.name for region in meta.regions] == ["Ana Müller"]


def test_deep_nesting(photo: Path) -> None:
    deep = "<rdf:Bag><rdf:li>" * 200 + "x" + "</rdf:li></rdf:Bag>" * 200
    _sidecar(photo, _xmp(f"<Iptc4xmpExt:PersonInImage>{deep}</Iptc4xmpExt:PersonInImage>"))
    meta = read_metadata(photo)
    assert _codes(meta) == ["too_deep"]
    _embedded_still_read(meta)


def test_bad_regions_each_have_a_reason(photo: Path) -> None:
    _sidecar(photo, _xmp(_regions(
        GOOD,
        _region("Outside", "1.8", "0.5", "0.2", "0.2"),
        _region("Zero", "0.5", "0.5", "0", "0.1"),
        _region("Negative", "0.5", "0.5", "-0.1", "0.1"),
        _region("Whole", "0.5", "0.5", "1", "1"),
        _region("Nan", "nan", "0.5", "0.1", "0.1"),
        _region("Text", "left", "0.5", "0.1", "0.1"),
        _region("Inf", "0.5", "0.5", "inf", "0.1"),
    )))
    meta = read_metadata(photo)
    reasons = [entry.reason for entry in meta.ignored]
    assert _codes(meta) == ["bad_region"] * 7
    for name, words in [("Outside", "outside"), ("Zero", "zero"), ("Negative", "negative"),
                        ("Whole", "whole photo"), ("Nan", "no usable x"), ("Text", "no usable x"),
                        ("Inf", "no usable w")]:
        assert any(repr(name) in reason and words in reason for reason in reasons), (name, reasons)
    assert sorted(region.name for region in meta.regions) == ["Ana Müller", "Björn Ek"]


def test_names_with_control_characters(photo: Path) -> None:
    _sidecar(photo, _xmp(
        _regions(GOOD, _region("Csi\u009b2JName", "0.8", "0.3", "0.1", "0.1"))
        + "<Iptc4xmpExt:PersonInImage><rdf:Bag><rdf:li>Evil\u202eeman</rdf:li><rdf:li>Ok Person</rdf:li>"
        "</rdf:Bag></Iptc4xmpExt:PersonInImage>"
    ))
    meta = read_metadata(photo)
    assert _codes(meta) == ["bad_name", "bad_name"]
    assert all("control characters" in entry.reason for entry in meta.ignored)
    assert meta.names == ("Ok Person",)
    assert "Ana Müller" in [region.name for region in meta.regions]
    _sidecar(photo, _xmp(_regions(GOOD, _region("Bell&#7;Name", "0.8", "0.3", "0.1", "0.1"))))
    assert _codes(read_metadata(photo)) == ["malformed"]  # C0 controls are not even XML 1.0


def test_sidecar_that_is_a_directory(photo: Path) -> None:
    photo.with_name(photo.name + ".xmp").mkdir()
    meta = read_metadata(photo)
    assert _codes(meta) == ["not_a_file"]
    assert "directory" in meta.ignored[0].reason
    _embedded_still_read(meta)
    result = write_sidecar(photo, SidecarContent(faces=(NamedFace("Ana Müller", FACE, "face:1"),)))
    assert result.status == "skipped" and "directory" in (result.reason or "")


def test_sidecar_that_is_a_fifo_does_not_block(photo: Path) -> None:
    os.mkfifo(photo.with_name(photo.name + ".xmp"))
    assert _codes(read_metadata(photo)) == ["not_a_file"]


def test_unreadable_sidecar(photo: Path) -> None:
    """A symlink loop cannot be opened by anyone, root included (CI runs as root, so no chmod 000)."""
    loop = photo.with_name(photo.name + ".xmp")
    loop.symlink_to(loop.name)
    meta = read_metadata(photo)
    assert _codes(meta) == ["unreadable"]
    _embedded_still_read(meta)


def test_photo_that_is_not_an_image(tmp_path: Path) -> None:
    path = tmp_path / "fake.jpg"
    path.write_bytes(b"not a photo at all")
    _sidecar(path, _xmp(_regions(GOOD) + "<Iptc4xmpExt:PersonInImage><rdf:Bag><rdf:li>Ok Person</rdf:li>"
                        "</rdf:Bag></Iptc4xmpExt:PersonInImage>"))
    meta = read_metadata(path)
    assert _codes(meta) == ["unreadable", "unplaced"]
    assert meta.regions == () and meta.names == ("Ok Person",) and meta.width == 0


def _png_with_chunk_after_idat(source: Path, chunk_type: bytes, payload: bytes, dest: Path) -> None:
    data = source.read_bytes()
    iend = data.rindex(b"IEND") - 4
    chunk = struct.pack(">I", len(payload)) + chunk_type + payload
    chunk += struct.pack(">I", zlib.crc32(chunk_type + payload))
    dest.write_bytes(data[:iend] + chunk + data[iend:])


def test_zip_bomb_in_png_itxt(tmp_path: Path) -> None:
    path = tmp_path / "bomb.png"
    bomb = zlib.compress(b"<" * (8 * MAX_PACKET_BYTES), 9)  # inflating stops at the limit anyway
    _png_with_chunk_after_idat(SKIMAGE / "astronaut.png", b"iTXt", b"XML:com.adobe.xmp\x00\x01\x00\x00\x00" + bomb,
                               path)
    meta = read_metadata(path)
    assert _codes(meta) == ["too_large"]
    assert meta.width == 512


def test_writer_leaves_a_malformed_sidecar_alone(photo: Path) -> None:
    for data in (_xmp(_regions(GOOD))[:-30],
                 _xmp(_regions(GOOD), doctype='<!DOCTYPE x:xmpmeta [<!ENTITY a "b">]>'),
                 b"\x00\x01binary junk"):
        sidecar = _sidecar(photo, data)
        result = write_sidecar(photo, SidecarContent(faces=(NamedFace("Ana Müller", FACE, "face:1"),)))
        assert result.status == "skipped" and "left as it is" in (result.reason or ""), result
        assert sidecar.read_bytes() == data


def test_writer_drops_bad_faces_with_reasons(photo: Path) -> None:
    faces = (
        NamedFace("Ana Müller", FACE, "face:1"),
        NamedFace("Bell\x07", FACE, "face:2"),
        NamedFace("Nowhere", (900.0, 900.0, 950.0, 950.0), "face:3"),
        NamedFace("Flat", (10.0, 10.0, 10.0, 50.0), "face:4"),
        NamedFace("NaN", (float("nan"), 1.0, 2.0, 3.0), "face:5"),
    )
    result = write_sidecar(photo, SidecarContent(faces=faces))
    assert result.status == "written"
    assert len(result.dropped) == 4 and all("\n" not in reason for reason in result.dropped)
    names = sorted(region.name for region in read_metadata(photo, embedded=False).regions)
    assert names == ["Ana Müller"]
