"""XMP packets <-> an element tree, safely; the tree <-> XMP's data model (simple values, arrays, structs).

Parsing goes through defusedxml with every DTD refused, so entity expansion ("billion laughs"), external
entities and external DTDs cannot happen: XMP never needs a DTD (XMP Part 1 forbids it), so a packet with one
is hostile or broken and is refused whole. Expat never fetches anything. Packets are capped in bytes, elements
and nesting depth before anything walks them recursively.

RDF/XML allows one XMP property to be written several ways (an attribute, an element with text, a struct as
rdf:parseType="Resource", as a nested rdf:Description or as attributes on an empty element, arrays as
rdf:Bag/Seq/Alt of rdf:li, qualified values with rdf:value); `properties` reads them all into one model.
`serialize` writes a tree back with the document's own prefixes, so a sidecar pictod rewrites keeps its
properties in the form other tools expect.
"""

from __future__ import annotations

import io
import re
import xml.etree.ElementTree as ET
from collections.abc import Iterator
from dataclasses import dataclass
from typing import Union

import defusedxml
import defusedxml.ElementTree as DET

from daemon.errors import MetadataError

RDF = "http://www.w3.org/1999/02/22-rdf-syntax-ns#"
X = "adobe:ns:meta/"
XML = "http://www.w3.org/XML/1998/namespace"

# Well-known prefixes used when a namespace has none in the document (a new sidecar, a new property).
PREFERRED_PREFIXES = {
    X: "x",
    RDF: "rdf",
    "http://purl.org/dc/elements/1.1/": "dc",
    "http://www.metadataworkinggroup.com/schemas/regions/": "mwg-rs",
    "http://ns.adobe.com/xmp/sType/Area#": "stArea",
    "http://ns.adobe.com/xap/1.0/sType/Dimensions#": "stDim",
    "http://ns.microsoft.com/photo/1.2/": "MP",
    "http://ns.microsoft.com/photo/1.2/t/RegionInfo#": "MPRI",
    "http://ns.microsoft.com/photo/1.2/t/Region#": "MPReg",
    "http://iptc.org/std/Iptc4xmpExt/2008-02-29/": "Iptc4xmpExt",
    "http://www.digikam.org/ns/1.0/": "digiKam",
    "http://ns.adobe.com/lightroom/1.0/": "lr",
    "http://ns.adobe.com/photoshop/1.0/": "photoshop",
    "http://ns.adobe.com/tiff/1.0/": "tiff",
    "http://ns.adobe.com/xmp/note/": "xmpNote",
}

MAX_PACKET_BYTES = 2 * 1024 * 1024  # digiKam/Lightroom sidecars are a few KB; standard JPEG XMP is < 64 KB
MAX_ELEMENTS = 50_000
MAX_DEPTH = 48

# XMP's data model: a simple value, an array (Bag/Seq/Alt, Alt with x-default first) or a struct.
Value = Union[str, list["Value"], dict[tuple[str, str], "Value"]]  # noqa: UP007 (a recursive alias needs Union)
Struct = dict[tuple[str, str], Value]

_DECLARED_ENCODING = re.compile(rb"\s*<\?xml[^>]*\bencoding\s*=")
_XPACKET_END = re.compile(rb"<\?xpacket\s+end\s*=\s*['\"][rw]['\"]\s*\?>")
_PARSE_TYPE = f"{{{RDF}}}parseType"
_RESOURCE = f"{{{RDF}}}resource"
_ABOUT = f"{{{RDF}}}about"
_DESCRIPTION = f"{{{RDF}}}Description"
_LI = f"{{{RDF}}}li"
_CONTAINERS = {f"{{{RDF}}}Bag": "Bag", f"{{{RDF}}}Seq": "Seq", f"{{{RDF}}}Alt": "Alt"}
_LANG = f"{{{XML}}}lang"


@dataclass
class Document:
    """A parsed packet: its rdf:RDF element and the prefix each namespace had in the document."""

    rdf: ET.Element
    prefixes: dict[str, str]  # namespace URI -> prefix
    toolkit: str | None = None  # x:xmptk of the document, if any


def split(tag: str) -> tuple[str, str]:
    """'{uri}local' -> (uri, local); a tag without a namespace -> ('', tag)."""
    if tag.startswith("{"):
        uri, _, local = tag[1:].partition("}")
        return uri, local
    return "", tag


def qname(ns: str, local: str) -> str:
    """(uri, local) -> ElementTree's '{uri}local'."""
    return f"{{{ns}}}{local}" if ns else local


def parse(data: bytes, *, what: str) -> Document:
    """One XMP packet -> Document; MetadataError (malformed, forbidden, too_large, not_xmp) for anything else."""
    if len(data) > MAX_PACKET_BYTES:
        raise MetadataError("too_large", f"{what}: XMP packet of {len(data)} bytes, limit {MAX_PACKET_BYTES}")
    data = _trim(data)
    if not data:
        raise MetadataError("malformed", f"{what}: empty XMP packet")
    data = _utf8(data)
    prefixes: dict[str, str] = {}
    taken: set[str] = set()
    root: ET.Element | None = None
    depth = elements = 0
    try:
        for event, item in DET.iterparse(io.BytesIO(data), events=("start-ns", "start", "end"), forbid_dtd=True):
            if event == "start-ns":
                prefix, uri = item
                if uri not in prefixes and prefix and prefix not in taken:
                    prefixes[uri] = prefix
                    taken.add(prefix)
            elif event == "start":
                depth += 1
                elements += 1
                if root is None:
                    root = item
                if depth > MAX_DEPTH:
                    raise MetadataError("too_deep", f"{what}: XMP nested deeper than {MAX_DEPTH} elements")
                if elements > MAX_ELEMENTS:
                    raise MetadataError("too_large", f"{what}: XMP has more than {MAX_ELEMENTS} elements")
            else:
                depth -= 1
    except defusedxml.DefusedXmlException as exc:
        raise MetadataError("forbidden", f"{what}: XMP with a DTD or entities refused ({type(exc).__name__})") from None
    except ET.ParseError as exc:
        raise MetadataError("malformed", f"{what}: XMP is not well-formed XML ({exc})") from None
    except (ValueError, UnicodeError, LookupError) as exc:  # an encoding declaration expat cannot use, ...
        raise MetadataError("malformed", f"{what}: XMP cannot be decoded ({exc})") from None
    if root is None:
        raise MetadataError("malformed", f"{what}: empty XMP packet")
    rdf = root if root.tag == f"{{{RDF}}}RDF" else root.find(f".//{{{RDF}}}RDF")
    if rdf is None:
        raise MetadataError("not_xmp", f"{what}: no rdf:RDF element")
    toolkit = root.get(f"{{{X}}}xmptk") if root is not rdf else None
    return Document(rdf=rdf, prefixes=prefixes, toolkit=toolkit)


def _trim(data: bytes) -> bytes:
    """Cut padding and trailing junk after the packet (NULs, a second packet's remains)."""
    match = _XPACKET_END.search(data)
    if match:
        data = data[: match.end()]
    return data.strip(b"\x00 \t\r\n")


def _utf8(data: bytes) -> bytes:
    """XMP is UTF-8 (or UTF-16/32 with a BOM); a packet in Latin-1 (seen in the wild) is transcoded, not lost."""
    if data[:2] in (b"\xff\xfe", b"\xfe\xff") or data[:4] in (b"\x00\x00\xfe\xff", b"\xff\xfe\x00\x00"):
        return data
    if _DECLARED_ENCODING.match(data):
        return data  # expat honours the declaration
    try:
        data.decode("utf-8")
    except UnicodeDecodeError:
        return data.decode("latin-1").encode("utf-8")
    return data


def new_document(toolkit: str) -> Document:
    """An empty x:xmpmeta/rdf:RDF/rdf:Description, as a new sidecar starts."""
    meta = ET.Element(f"{{{X}}}xmpmeta", {f"{{{X}}}xmptk": toolkit})
    rdf = ET.SubElement(meta, f"{{{RDF}}}RDF")
    ET.SubElement(rdf, _DESCRIPTION, {_ABOUT: ""})
    return Document(rdf=rdf, prefixes={}, toolkit=toolkit)


def descriptions(doc: Document) -> list[ET.Element]:
    """The top-level rdf:Description elements (XMP puts every top-level property in one of them)."""
    return [child for child in doc.rdf if child.tag == _DESCRIPTION]


# --- the data model -------------------------------------------------------------------------------------------


def properties(doc: Document) -> Struct:
    """Every top-level property of the document, merged over its rdf:Descriptions (the first occurrence wins)."""
    result: Struct = {}
    for desc in descriptions(doc):
        for key, value in _fields(desc).items():
            result.setdefault(key, value)
    return result


def _fields(node: ET.Element) -> Struct:
    """Fields of a struct node: its non-RDF attributes (simple values) and its child elements."""
    fields: Struct = {}
    for name, text in node.attrib.items():
        ns, local = split(name)
        if ns not in (RDF, XML) and not (ns == "" and local.startswith("xmlns")):
            fields.setdefault((ns, local), text)
    for child in node:
        fields.setdefault(split(child.tag), value_of(child))
    return fields


def value_of(el: ET.Element) -> Value:
    """The XMP value of one property or rdf:li element, whatever RDF form it is written in."""
    parse_type = el.get(_PARSE_TYPE)
    if parse_type == "Resource":
        return _qualified(_fields(el))
    if parse_type == "Literal":
        return "".join(el.itertext())
    resource = el.get(_RESOURCE)
    if resource is not None:
        return resource
    children = list(el)
    if not children:
        attrs = _fields(el)
        return _qualified(attrs) if attrs else (el.text or "")
    if len(children) == 1 and children[0].tag in _CONTAINERS:
        items = [child for child in children[0] if child.tag == _LI]
        if _CONTAINERS[children[0].tag] == "Alt":
            items.sort(key=lambda li: li.get(_LANG) != "x-default")  # stable: x-default first
        return [value_of(li) for li in items]
    if len(children) == 1 and children[0].tag == _DESCRIPTION:
        return _qualified(_fields(children[0]))
    return _qualified(_fields(el))


def _qualified(fields: Struct) -> Value:
    """A struct with rdf:value is a qualified simple value (XMP Part 1, 7.5): the value is rdf:value."""
    if (RDF, "value") in fields:
        return fields[(RDF, "value")]
    return fields


def field(struct: Value, ns: str, local: str) -> Value | None:
    """A struct field by namespace and name, else by name alone (some writers get struct namespaces wrong)."""
    if not isinstance(struct, dict):
        return None
    if (ns, local) in struct:
        return struct[(ns, local)]
    for (_, name), value in struct.items():
        if name == local:
            return value
    return None


def text(value: Value | None) -> str | None:
    """A simple value as text (the first item of a one-item array too); None for structs and absent values."""
    if isinstance(value, list):
        value = value[0] if value else None
    return value if isinstance(value, str) else None


def texts(value: Value | None) -> list[str]:
    """An array of simple values (or one simple value) as a list of text; structs inside are skipped."""
    if isinstance(value, str):
        return [value]
    if isinstance(value, list):
        return [item for item in value if isinstance(item, str)]
    return []


# --- the tree, for rewriting a sidecar --------------------------------------------------------------------------


def struct_node(prop: ET.Element) -> ET.Element:
    """Rewrite a struct-valued property in place into rdf:parseType="Resource" form (fields as child elements)
    and return it; every RDF form of a struct means the same, and this one can take new fields."""
    if prop.get(_PARSE_TYPE) == "Resource":
        _attributes_to_children(prop)
        return prop
    children = list(prop)
    if len(children) == 1 and children[0].tag == _DESCRIPTION:
        desc = children[0]
        prop.remove(desc)
        _attributes_to_children(desc)
        prop.extend(list(desc))
    else:
        _attributes_to_children(prop)
    prop.text = None
    prop.set(_PARSE_TYPE, "Resource")
    return prop


def _attributes_to_children(node: ET.Element) -> None:
    moved = []
    for name in list(node.attrib):
        ns, _ = split(name)
        if ns not in (RDF, XML, ""):
            moved.append((name, node.attrib.pop(name)))
    for position, (name, value) in enumerate(moved):
        child = ET.Element(name)
        child.text = value
        node.insert(position, child)


def array_items(prop: ET.Element) -> tuple[ET.Element, list[ET.Element]] | None:
    """(container, rdf:li items) of an array-valued property; None when the property is not an array."""
    children = list(prop)
    if len(children) == 1 and children[0].tag in _CONTAINERS and not prop.get(_PARSE_TYPE):
        return children[0], [child for child in children[0] if child.tag == _LI]
    return None


def new_array(parent: ET.Element, tag: str, kind: str, *, index: int | None = None) -> ET.Element:
    """Add an empty array property (kind Bag or Seq) to a struct node or rdf:Description; return its container."""
    prop = ET.Element(tag)
    if index is None:
        parent.append(prop)
    else:
        parent.insert(index, prop)
    return ET.SubElement(prop, f"{{{RDF}}}{kind}")


def add_text(parent: ET.Element, tag: str, value: str) -> ET.Element:
    """Append a simple-valued field as an element with text."""
    child = ET.SubElement(parent, tag)
    child.text = value
    return child


# --- serialising ------------------------------------------------------------------------------------------------


def serialize(doc: Document, *, toolkit: str, own: dict[str, str]) -> bytes:
    """The document as a UTF-8 sidecar: xpacket wrapper, x:xmpmeta, the document's own prefixes (then `own`,
    then well-known ones, then generated), namespaces declared on each top-level rdf:Description."""
    prefixes = _assign_prefixes(doc, own)
    out = io.StringIO()
    out.write('<?xpacket begin="\ufeff" id="W5M0MpCehiHzreSzNTczkc9d"?>\n')
    out.write(f'<x:xmpmeta xmlns:x="{X}" x:xmptk="{_escape_attr(toolkit)}">\n')
    out.write(f' <rdf:RDF xmlns:rdf="{RDF}">\n')
    for child in doc.rdf:
        used = sorted({uri for uri in _namespaces(child) if uri not in (RDF, XML, X, "")}, key=prefixes.__getitem__)
        decls = "".join(f'\n    xmlns:{prefixes[uri]}="{_escape_attr(uri)}"' for uri in used)
        _write(out, child, prefixes, indent=2, extra=decls)
    out.write(" </rdf:RDF>\n</x:xmpmeta>\n")
    out.write('<?xpacket end="w"?>\n')
    return out.getvalue().encode("utf-8")


def _namespaces(el: ET.Element) -> Iterator[str]:
    for node in el.iter():
        yield split(node.tag)[0]
        for name in node.attrib:
            yield split(name)[0]


def _assign_prefixes(doc: Document, own: dict[str, str]) -> dict[str, str]:
    prefixes = {X: "x", RDF: "rdf", XML: "xml"}
    taken = set(prefixes.values())
    for source in (doc.prefixes, own, PREFERRED_PREFIXES):
        for uri, prefix in source.items():
            if uri not in prefixes and prefix not in taken and _valid_prefix(prefix):
                prefixes[uri] = prefix
                taken.add(prefix)
    counter = 0
    for uri in sorted({uri for uri in _namespaces(doc.rdf) if uri and uri not in prefixes}):
        while f"ns{counter}" in taken:
            counter += 1
        prefixes[uri] = f"ns{counter}"
        taken.add(prefixes[uri])
    return prefixes


def _valid_prefix(prefix: str) -> bool:
    return bool(re.fullmatch(r"[A-Za-z_][A-Za-z0-9_.\-]*", prefix)) and not prefix.lower().startswith("xml")


def _name(tag: str, prefixes: dict[str, str]) -> str:
    ns, local = split(tag)
    return f"{prefixes[ns]}:{local}" if ns else local


def _write(out: io.StringIO, el: ET.Element, prefixes: dict[str, str], *, indent: int, extra: str = "") -> None:
    pad = " " * indent
    name = _name(el.tag, prefixes)
    attrs = "".join(f' {_name(key, prefixes)}="{_escape_attr(value)}"' for key, value in el.attrib.items())
    children = list(el)
    if not children:
        content = el.text or ""
        if content:
            out.write(f"{pad}<{name}{attrs}{extra}>{_escape_text(content)}</{name}>\n")
        else:
            out.write(f"{pad}<{name}{attrs}{extra}/>\n")
        return
    out.write(f"{pad}<{name}{attrs}{extra}>\n")
    for child in children:  # RDF has no mixed content: text beside child elements is layout whitespace
        _write(out, child, prefixes, indent=indent + 1)
    out.write(f"{pad}</{name}>\n")


def _escape_text(value: str) -> str:
    return value.replace("&", "&amp;").replace("<", "&lt;").replace(">", "&gt;").replace("\r", "&#xD;")


def _escape_attr(value: str) -> str:
    return (
        _escape_text(value).replace('"', "&quot;").replace("\n", "&#xA;").replace("\t", "&#x9;")
    )
