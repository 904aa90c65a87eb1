"""Characterization output (ExifTool, MediaInfo, FFprobe XML) recorded with files and embedded in the AIP METS as
premis:objectCharacteristicsExtension; output that cannot be embedded is kept as text and the METS stays valid."""

from __future__ import annotations

import uuid
from pathlib import Path

import metsrw
import pytest
from lxml import etree
from pydantic import ValidationError
from sqlalchemy.ext.asyncio import AsyncEngine

from clients.metadata import MAX_CHARACTERISTICS_BYTES, CharacteristicsRecord, FileRecord, MetadataClient, PackageUpsert
from clients.metadata import client as metadata_client
from services.metadata.mets import service as mets_service
from services.metadata.mets.validation import validate_mets
from tests.metadata.factories import file_record
from tests.metadata.test_premis_api import table_count

NS = {
    "mets": "http://www.loc.gov/METS/",
    "premis": "http://www.loc.gov/premis/v3",
    "rdf": "http://www.w3.org/1999/02/22-rdf-syntax-ns#",
    "mi": "https://mediaarea.net/mediainfo",
    "amber": "https://amber.example/xmlns/characterization",
}
EXIFTOOL_XML = """<?xml version='1.0' encoding='UTF-8'?>
<rdf:RDF xmlns:rdf='http://www.w3.org/1999/02/22-rdf-syntax-ns#'>
<rdf:Description rdf:about='/tmp/photo.jpg'
  xmlns:et='http://ns.exiftool.org/1.0/' et:toolkit='Image::ExifTool 12.76'
  xmlns:System='http://ns.exiftool.org/File/System/1.0/'
  xmlns:File='http://ns.exiftool.org/File/1.0/'
  xmlns:XMP-dc='http://ns.exiftool.org/XMP/XMP-dc/1.0/'>
 <System:FileName>photo.jpg</System:FileName>
 <File:MIMEType>image/jpeg</File:MIMEType>
 <File:ImageWidth>640</File:ImageWidth>
 <XMP-dc:Title>Caf\u00e9 &amp; garden</XMP-dc:Title>
</rdf:Description>
</rdf:RDF>
"""
# Declared as ISO-8859-1, as some tools do: the text arrives decoded, so the declaration must not mislead.
MEDIAINFO_XML = """<?xml version="1.0" encoding="ISO-8859-1"?>
<MediaInfo xmlns="https://mediaarea.net/mediainfo" xmlns:xsi="http://www.w3.org/2001/XMLSchema-instance"
    xsi:schemaLocation="https://mediaarea.net/mediainfo https://mediaarea.net/mediainfo/mediainfo_2_0.xsd"
    version="2.0">
<!-- generated -->
<creatingLibrary version="24.01" url="https://mediaarea.net/MediaInfo">MediaInfoLib</creatingLibrary>
<media ref="/tmp/photo.jpg">
<track type="General"><Format>JPEG</Format><FileSize>1234</FileSize><Title>Caf\u00e9</Title></track>
<track type="Image"><Format>JPEG</Format><Width>640</Width><Height>480</Height></track>
</media>
</MediaInfo>
"""
FFPROBE_XML = """<?xml version="1.0" encoding="UTF-8"?>
<ffprobe:ffprobe xmlns:ffprobe="http://www.ffmpeg.org/schema/ffprobe"
    xmlns:xsi="http://www.w3.org/2001/XMLSchema-instance"
    xsi:schemaLocation="http://www.ffmpeg.org/schema/ffprobe ffprobe.xsd">
  <streams><stream index="0" codec_name="mjpeg" codec_type="video" width="640" height="480"/></streams>
  <format filename="/tmp/photo.jpg" nb_streams="1" format_name="image2" size="1234"/>
</ffprobe:ffprobe>
"""
# Output that must not be embedded as XML, each kept as text instead.
UNEMBEDDABLE = {
    "not well-formed": "<MediaInfo><media><track>",
    "not XML at all": "ExifTool error: file not found\x07",
    "entity declarations": '<?xml version="1.0"?><!DOCTYPE x [<!ENTITY e SYSTEM "file:///etc/passwd">]><x>&e;</x>',
    "undeclared entity": "<x>&nbsp;</x>",
    "a vocabulary the METS is validated against": (
        '<report xmlns:premis="http://www.loc.gov/premis/v3"><premis:size>not a number</premis:size></report>'
    ),
    "xsi:type": '<r xmlns:xsi="http://www.w3.org/2001/XMLSchema-instance" xsi:type="xs:nothing"/>',
    "xml:id that could clash": '<r><a xml:id="amdSec_1"/></r>',
}


def characterized(package_uuid: uuid.UUID, path: str, records: list[CharacteristicsRecord]) -> FileRecord:
    record = file_record(path, package_uuid=package_uuid, puid="fmt/43", format_name="JPEG File Interchange Format")
    return record.model_copy(update={"characteristics": records, "creating_application": "Camera",
                                     "creating_application_version": "1.0"})


async def mets_of(metadata: MetadataClient, package_uuid: uuid.UUID, dest: Path) -> etree._Element:
    await metadata.download_mets(package_uuid, dest)
    assert validate_mets(dest) == []
    return etree.parse(str(dest)).getroot()


def extensions_of(root: etree._Element, file_uuid: uuid.UUID) -> list[etree._Element]:
    for obj in root.iterfind("mets:amdSec/mets:techMD/mets:mdWrap/mets:xmlData/premis:object", NS):
        if obj.findtext("premis:objectIdentifier/premis:objectIdentifierValue", namespaces=NS) == str(file_uuid):
            return obj.findall("premis:objectCharacteristics/premis:objectCharacteristicsExtension", NS)
    raise AssertionError(f"no PREMIS object for {file_uuid}")


async def test_tool_output_is_embedded_in_the_mets_which_stays_valid(
    metadata: MetadataClient, tmp_path: Path
) -> None:
    package_uuid = uuid.uuid4()
    await metadata.upsert_package(package_uuid, PackageUpsert(name="photos"))
    photo = characterized(package_uuid, "objects/photo.jpg", [
        CharacteristicsRecord(tool="ExifTool", version="12.76", xml=EXIFTOOL_XML),
        CharacteristicsRecord(tool="MediaInfo", version="24.01", xml=MEDIAINFO_XML),
        CharacteristicsRecord(tool="FFprobe", version="6.1", xml=FFPROBE_XML),
    ])
    plain = file_record("objects/readme.txt", package_uuid=package_uuid)
    await metadata.add_files(package_uuid, [photo, plain])
    dest = tmp_path / "METS.xml"
    root = await mets_of(metadata, package_uuid, dest)

    extensions = extensions_of(root, photo.uuid)
    # One extension per record, in order, each holding the tool's own root element (not text, not a wrapper).
    assert [[etree.QName(child).text for child in ext] for ext in extensions] == [
        [f"{{{NS['rdf']}}}RDF"], [f"{{{NS['mi']}}}MediaInfo"], ["{http://www.ffmpeg.org/schema/ffprobe}ffprobe"],
    ]
    exif, mediainfo, _ = (ext[0] for ext in extensions)
    assert exif.findtext(".//{http://ns.exiftool.org/XMP/XMP-dc/1.0/}Title") == "Caf\u00e9 & garden"
    assert mediainfo.findtext("mi:media/mi:track[@type='Image']/mi:Width", namespaces=NS) == "640"
    assert mediainfo.findtext("mi:media/mi:track[@type='General']/mi:Title", namespaces=NS) == "Caf\u00e9"
    # PREMIS's order: after format and creatingApplication.
    characteristics = extensions[0].getparent()
    assert [etree.QName(child).localname for child in characteristics] == [
        "compositionLevel", "fixity", "size", "format", "creatingApplication",
        "objectCharacteristicsExtension", "objectCharacteristicsExtension", "objectCharacteristicsExtension",
    ]
    assert extensions_of(root, plain.uuid) == []

    conforms, report = metsrw.schematron_validate(etree.parse(str(dest)), metsrw.AM_SCT_PATH)
    assert conforms, metsrw.sct_report_string(report)
    document = metsrw.METSDocument.fromfile(str(dest))
    entry = next(e for e in document.all_files() if e.path == "objects/photo.jpg")
    assert entry.get_premis_objects()[0].message_digest == photo.checksum


@pytest.mark.parametrize("truncated", [False, True])
async def test_output_that_cannot_be_embedded_is_kept_as_text_and_the_mets_stays_valid(
    metadata: MetadataClient, tmp_path: Path, truncated: bool
) -> None:
    package_uuid = uuid.uuid4()
    await metadata.upsert_package(package_uuid, PackageUpsert(name="odd tools"))
    outputs = list(UNEMBEDDABLE.values())
    if truncated:  # even well-formed output is not embedded when the record says it is only the beginning
        outputs.append(EXIFTOOL_XML)
    files = [
        characterized(package_uuid, f"objects/file-{index}.jpg", [
            CharacteristicsRecord(tool="Tool <&>", version='1 "x"', xml=output, truncated=truncated),
        ])
        for index, output in enumerate(outputs)
    ]
    await metadata.add_files(package_uuid, files)
    root = await mets_of(metadata, package_uuid, tmp_path / "METS.xml")
    for record in files:
        [extension] = extensions_of(root, record.uuid)
        [wrapper] = list(extension)
        assert etree.QName(wrapper).text == f"{{{NS['amber']}}}toolOutput"
        assert dict(wrapper.attrib) == {"tool": "Tool <&>", "version": '1 "x"',
                                        "truncated": "true" if truncated else "false"}
        # The output itself, to the character (only what XML cannot carry at all is replaced).
        assert wrapper.text == record.characteristics[0].xml.replace("\x07", "\ufffd")
    assert "/etc/passwd" not in "".join(root.itertext()).replace(UNEMBEDDABLE["entity declarations"], "")


async def test_retried_files_record_their_characteristics_once(
    metadata: MetadataClient, db_engine: AsyncEngine, tmp_path: Path
) -> None:
    package_uuid = uuid.uuid4()
    await metadata.upsert_package(package_uuid, PackageUpsert(name="retried"))
    files = [
        characterized(package_uuid, f"objects/photo-{index}.jpg", [
            CharacteristicsRecord(tool="ExifTool", version="12.76", xml=EXIFTOOL_XML),
            CharacteristicsRecord(tool="MediaInfo", version="24.01", xml=MEDIAINFO_XML),
        ])
        for index in range(3)
    ]
    before = await table_count(db_engine, "file_characteristics")
    first = await metadata.add_files(package_uuid, files)
    retried = await metadata.add_files(package_uuid, files)  # a retried activity sends the same batch again
    assert (first.created, first.unchanged, retried.created, retried.unchanged) == (3, 0, 0, 3)
    # A retry carrying different output does not replace or add to what was recorded with the file.
    changed = [f.model_copy(update={"characteristics": [*f.characteristics, *f.characteristics]}) for f in files]
    await metadata.add_files(package_uuid, changed)
    assert await table_count(db_engine, "file_characteristics") - before == 6
    root = await mets_of(metadata, package_uuid, tmp_path / "METS.xml")
    for record in files:
        assert len(extensions_of(root, record.uuid)) == 2


async def test_outputs_are_read_in_bounded_batches_without_losing_any(
    metadata: MetadataClient, tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    package_uuid = uuid.uuid4()
    await metadata.upsert_package(package_uuid, PackageUpsert(name="batches"))
    files = [
        characterized(package_uuid, f"objects/{index:02d}.jpg", [
            CharacteristicsRecord(tool="ExifTool", version=str(index), xml=EXIFTOOL_XML),
            CharacteristicsRecord(tool="MediaInfo", version=str(index), xml="<broken"),
        ] if index % 3 else [])
        for index in range(20)
    ]
    await metadata.add_files(package_uuid, files)
    monkeypatch.setattr(mets_service, "CHARACTERISTICS_CHARS", len(EXIFTOOL_XML) * 3)
    root = await mets_of(metadata, package_uuid, tmp_path / "METS.xml")
    for index, record in enumerate(files):
        extensions = extensions_of(root, record.uuid)
        if not index % 3:
            assert extensions == []
            continue
        assert [etree.QName(ext[0]).localname for ext in extensions] == ["RDF", "toolOutput"]
        assert extensions[1][0].get("version") == str(index)


def test_output_is_bounded_in_bytes() -> None:
    at_limit = "é" * (MAX_CHARACTERISTICS_BYTES // 2)
    assert CharacteristicsRecord(tool="t", version="1", xml=at_limit).xml == at_limit
    with pytest.raises(ValidationError):
        CharacteristicsRecord(tool="t", version="1", xml=at_limit + "x")  # characters under, bytes over
    cut = CharacteristicsRecord.bounded("MediaInfo", "24.01", ("<a>" + "é" * MAX_CHARACTERISTICS_BYTES).encode())
    assert cut.truncated and len(cut.xml.encode()) <= MAX_CHARACTERISTICS_BYTES
    assert cut.xml.startswith("<a>é") and "\ufffd" not in cut.xml  # cut between characters, not inside one
    whole = CharacteristicsRecord.bounded("FFprobe", "6.1", b"<a>\xff</a>")
    assert (whole.truncated, whole.xml) == (False, "<a>\ufffd</a>")


async def test_the_client_splits_calls_by_the_size_of_tool_output(
    metadata: MetadataClient, db_engine: AsyncEngine, monkeypatch: pytest.MonkeyPatch
) -> None:
    package_uuid = uuid.uuid4()
    await metadata.upsert_package(package_uuid, PackageUpsert(name="split"))
    exif = CharacteristicsRecord(tool="ExifTool", version="12.76", xml=EXIFTOOL_XML)
    files = [characterized(package_uuid, f"objects/{index}.jpg", [exif] * (index % 3)) for index in range(10)]
    monkeypatch.setattr(metadata_client, "CHARACTERISTICS_PER_CALL", len(EXIFTOOL_XML) * 2)
    # Up to two outputs a call, and a file with none joins whichever call it falls in.
    assert [[int(f.path[8:-4]) for f in group] for group in metadata_client._by_characteristics(files)] == [
        [0, 1], [2, 3], [4], [5, 6], [7], [8, 9],
    ]
    before = await table_count(db_engine, "file_characteristics")
    result = await metadata.add_files(package_uuid, files)
    assert (result.created, result.unchanged) == (10, 0)
    assert await table_count(db_engine, "file_characteristics") - before == sum(index % 3 for index in range(10))
