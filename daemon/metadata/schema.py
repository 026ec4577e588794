"""The XMP namespaces and properties pictod reads and writes (exiftool's MWG and XMP tag tables name them)."""

from __future__ import annotations

DC = "http://purl.org/dc/elements/1.1/"
MWG_RS = "http://www.metadataworkinggroup.com/schemas/regions/"
ST_AREA = "http://ns.adobe.com/xmp/sType/Area#"
ST_DIM = "http://ns.adobe.com/xap/1.0/sType/Dimensions#"
MP = "http://ns.microsoft.com/photo/1.2/"
MPRI = "http://ns.microsoft.com/photo/1.2/t/RegionInfo#"
MPREG = "http://ns.microsoft.com/photo/1.2/t/Region#"
IPTC_EXT = "http://iptc.org/std/Iptc4xmpExt/2008-02-29/"
DIGIKAM = "http://www.digikam.org/ns/1.0/"
LR = "http://ns.adobe.com/lightroom/1.0/"
PHOTOSHOP = "http://ns.adobe.com/photoshop/1.0/"  # photoshop:City, State, Country: a photo's place (issue 25)
PLACE_FIELDS = ("City", "State", "Country")
# pictod's own namespace: the mark on its regions and the record of what it added to shared lists.
PICTOD = "urn:pictod:xmp:1.0#"
PICTOD_PREFIX = "pictod"

# Byte strings whose absence means a packet holds nothing pictod reads: such packets are not parsed at all
# (a phone's ExtendedXMP depth map is megabytes of base64 in other namespaces).
INTERESTING = tuple(uri.encode() for uri in (MWG_RS, MP, IPTC_EXT, DIGIKAM, LR, DC, PICTOD, PHOTOSHOP))

PEOPLE_ROOT = "People"
# digiKam's own bookkeeping tags under People/, not persons.
DIGIKAM_PEOPLE_RESERVED = frozenset({"unknown", "unconfirmed", "ignored"})
# Windows Live Photo Gallery writes this display name for a face the user chose to ignore.
MP_IGNORED_FACE = "ffffffffffffffff"
