"""Importing a transfer's premis.xml and existing AIP METS files (ours, and Archivematica-shaped PREMIS 2.2),
streamed, through the real app; hostile documents refused."""

from __future__ import annotations

import uuid
from pathlib import Path

import httpx

from clients.metadata import MetadataClient, PackageUpsert
from clients.metadata.schemas import ImportResult
from services.metadata.main import create_app
from services.metadata.settings import MetadataSettings
from tests.metadata.conftest import TOKEN
from tests.metadata.factories import file_record, file_records

HEADERS = {"Authorization": f"Bearer {TOKEN}", "Content-Type": "application/xml"}
FILE_A = "7a7a3d6e-0c5a-4d8b-9a52-2e0f1c2b3a01"
FILE_B = "7a7a3d6e-0c5a-4d8b-9a52-2e0f1c2b3a02"
PREMIS_22_METS = f"""<?xml version="1.0" encoding="UTF-8"?>
<mets:mets xmlns:mets="http://www.loc.gov/METS/" xmlns:xlink="http://www.w3.org/1999/xlink"
  xmlns:xsi="http://www.w3.org/2001/XMLSchema-instance"
  xsi:schemaLocation="http://www.loc.gov/METS/ http://www.loc.gov/standards/mets/version18/mets.xsd">
  <mets:metsHdr CREATEDATE="2015-06-01T10:00:00"/>
  <mets:amdSec ID="amdSec_1">
    <mets:techMD ID="techMD_1"><mets:mdWrap MDTYPE="PREMIS:OBJECT"><mets:xmlData>
      <premis:object xmlns:premis="info:lc/xmlns/premis-v2" xsi:type="premis:file" version="2.2">
        <premis:objectIdentifier><premis:objectIdentifierType>UUID</premis:objectIdentifierType>
          <premis:objectIdentifierValue>{FILE_A}</premis:objectIdentifierValue></premis:objectIdentifier>
        <premis:objectCharacteristics><premis:compositionLevel>0</premis:compositionLevel>
          <premis:fixity><premis:messageDigestAlgorithm>sha256</premis:messageDigestAlgorithm>
            <premis:messageDigest>{"a" * 64}</premis:messageDigest></premis:fixity>
          <premis:size>1234</premis:size>
          <premis:format><premis:formatDesignation><premis:formatName>JPEG</premis:formatName>
            <premis:formatVersion>1.01</premis:formatVersion></premis:formatDesignation>
            <premis:formatRegistry><premis:formatRegistryName>PRONOM</premis:formatRegistryName>
            <premis:formatRegistryKey>fmt/43</premis:formatRegistryKey></premis:formatRegistry></premis:format>
        </premis:objectCharacteristics>
        <premis:originalName>%transferDirectory%objects/photo.jpg</premis:originalName>
      </premis:object></mets:xmlData></mets:mdWrap></mets:techMD>
    <mets:digiprovMD ID="digiprovMD_1"><mets:mdWrap MDTYPE="PREMIS:EVENT"><mets:xmlData>
      <premis:event xmlns:premis="info:lc/xmlns/premis-v2" version="2.2">
        <premis:eventIdentifier><premis:eventIdentifierType>UUID</premis:eventIdentifierType>
          <premis:eventIdentifierValue>9b1f7a52-3c1e-4d7e-9a51-0a3c6e1b7d21</premis:eventIdentifierValue>
        </premis:eventIdentifier>
        <premis:eventType>message digest calculation</premis:eventType>
        <premis:eventDateTime>2015-06-01T09:59:00</premis:eventDateTime>
        <premis:eventDetail>program="python"; module="hashlib.sha256()"</premis:eventDetail>
        <premis:eventOutcomeInformation><premis:eventOutcome/><premis:eventOutcomeDetail>
          <premis:eventOutcomeDetailNote>{"a" * 64}</premis:eventOutcomeDetailNote></premis:eventOutcomeDetail>
        </premis:eventOutcomeInformation>
        <premis:linkingAgentIdentifier>
          <premis:linkingAgentIdentifierType>preservation system</premis:linkingAgentIdentifierType>
          <premis:linkingAgentIdentifierValue>Archivematica-1.4</premis:linkingAgentIdentifierValue>
        </premis:linkingAgentIdentifier>
      </premis:event></mets:xmlData></mets:mdWrap></mets:digiprovMD>
    <mets:digiprovMD ID="digiprovMD_2"><mets:mdWrap MDTYPE="PREMIS:AGENT"><mets:xmlData>
      <premis:agent xmlns:premis="info:lc/xmlns/premis-v2">
        <premis:agentIdentifier><premis:agentIdentifierType>preservation system</premis:agentIdentifierType>
          <premis:agentIdentifierValue>Archivematica-1.4</premis:agentIdentifierValue></premis:agentIdentifier>
        <premis:agentName>Archivematica</premis:agentName><premis:agentType>software</premis:agentType>
      </premis:agent></mets:xmlData></mets:mdWrap></mets:digiprovMD>
  </mets:amdSec>
  <mets:fileSec><mets:fileGrp USE="original">
    <mets:file ID="file-{FILE_A}" GROUPID="Group-{FILE_A}" ADMID="amdSec_1">
      <mets:FLocat xlink:href="objects/photo.jpg" LOCTYPE="OTHER" OTHERLOCTYPE="SYSTEM"/></mets:file>
  </mets:fileGrp></mets:fileSec>
  <mets:structMap TYPE="physical"><mets:div><mets:div TYPE="Item" LABEL="photo.jpg">
    <mets:fptr FILEID="file-{FILE_A}"/></mets:div></mets:div></mets:structMap>
</mets:mets>"""

TRANSFER_PREMIS = f"""<?xml version="1.0" encoding="UTF-8"?>
<premis:premis xmlns:premis="http://www.loc.gov/premis/v3" xmlns:xsi="http://www.w3.org/2001/XMLSchema-instance"
  version="3.0">
  <premis:object xsi:type="premis:file">
    <premis:objectIdentifier><premis:objectIdentifierType>UUID</premis:objectIdentifierType>
      <premis:objectIdentifierValue>{FILE_B}</premis:objectIdentifierValue></premis:objectIdentifier>
    <premis:objectCharacteristics><premis:format><premis:formatDesignation>
      <premis:formatName>Plain text</premis:formatName></premis:formatDesignation></premis:format>
    </premis:objectCharacteristics>
    <premis:originalName>%transferDirectory%objects/letters/1901.txt</premis:originalName>
  </premis:object>
  <premis:event>
    <premis:eventIdentifier><premis:eventIdentifierType>local</premis:eventIdentifierType>
      <premis:eventIdentifierValue>ev-1</premis:eventIdentifierValue></premis:eventIdentifier>
    <premis:eventType>accession</premis:eventType>
    <premis:eventDateTime>2020-01-02T03:04:05Z</premis:eventDateTime>
    <premis:eventDetailInformation><premis:eventDetail>Accessioned by the donor office</premis:eventDetail>
    </premis:eventDetailInformation>
    <premis:eventOutcomeInformation><premis:eventOutcome>pass</premis:eventOutcome></premis:eventOutcomeInformation>
    <premis:linkingAgentIdentifier><premis:linkingAgentIdentifierType>local</premis:linkingAgentIdentifierType>
      <premis:linkingAgentIdentifierValue>donor-office</premis:linkingAgentIdentifierValue>
    </premis:linkingAgentIdentifier>
    <premis:linkingObjectIdentifier><premis:linkingObjectIdentifierType>UUID</premis:linkingObjectIdentifierType>
      <premis:linkingObjectIdentifierValue>{FILE_B}</premis:linkingObjectIdentifierValue>
    </premis:linkingObjectIdentifier>
  </premis:event>
  <premis:agent>
    <premis:agentIdentifier><premis:agentIdentifierType>local</premis:agentIdentifierType>
      <premis:agentIdentifierValue>donor-office</premis:agentIdentifierValue></premis:agentIdentifier>
    <premis:agentName>Donor office</premis:agentName><premis:agentType>organization</premis:agentType>
  </premis:agent>
  <premis:rightsStatement>
    <premis:rightsStatementIdentifier><premis:rightsStatementIdentifierType>local</premis:rightsStatementIdentifierType>
      <premis:rightsStatementIdentifierValue>r-1</premis:rightsStatementIdentifierValue>
    </premis:rightsStatementIdentifier>
    <premis:rightsBasis>Copyright</premis:rightsBasis>
    <premis:copyrightInformation><premis:copyrightStatus>copyrighted</premis:copyrightStatus>
      <premis:copyrightJurisdiction>ca</premis:copyrightJurisdiction></premis:copyrightInformation>
    <premis:rightsGranted><premis:act>disseminate</premis:act><premis:restriction>Disallow</premis:restriction>
    </premis:rightsGranted>
    <premis:linkingObjectIdentifier><premis:linkingObjectIdentifierType>UUID</premis:linkingObjectIdentifierType>
      <premis:linkingObjectIdentifierValue>{FILE_B}</premis:linkingObjectIdentifierValue>
    </premis:linkingObjectIdentifier>
  </premis:rightsStatement>
</premis:premis>"""


async def post(client: httpx.AsyncClient, url: str, body: bytes) -> httpx.Response:
    return await client.post(url, content=body, headers=HEADERS)


async def test_import_archivematica_premis_2_mets_and_our_own(
    http: httpx.AsyncClient, metadata: MetadataClient, tmp_path: Path
) -> None:
    package_uuid = uuid.uuid4()
    await metadata.upsert_package(package_uuid, PackageUpsert(name="old-aip"))
    for _ in range(2):  # re-importing changes nothing
        response = await post(http, f"/premis/packages/{package_uuid}/import/mets", PREMIS_22_METS.encode())
        assert response.status_code == 200, response.text
        result = ImportResult.model_validate(response.json())
        assert (result.premis_version, result.files, result.events) == ("2.2", 1, 1)
    files = (await metadata.list_files(package_uuid)).items
    assert [(str(f.uuid), f.path, f.puid, f.size, f.format_version) for f in files] == [
        (FILE_A, "objects/photo.jpg", "fmt/43", 1234, "1.01")]
    events = (await metadata.list_events(package_uuid)).items
    assert events[0].type == "message digest calculation" and events[0].outcome_note == "a" * 64
    assert events[0].detail == 'program="python"; module="hashlib.sha256()"'
    assert events[0].agents[0].name == "Archivematica"

    # An AIP of ours made by another Amber (its own database), adopted here: every file and event.
    other = create_app(MetadataSettings(data_dir=tmp_path / "other", internal_token=TOKEN))
    target = uuid.uuid4()
    mets = tmp_path / "METS.xml"
    async with other.router.lifespan_context(other):
        remote = MetadataClient("http://other", token=TOKEN, transport=httpx.ASGITransport(app=other))
        await remote.upsert_package(target, PackageUpsert(name="ours"))
        await remote.add_files(target, file_records(target, 300))
        await remote.download_mets(target, mets)
        await remote.aclose()
    await metadata.upsert_package(target, PackageUpsert(name="adopted"))
    result = await metadata.import_aip_mets(target, mets)
    assert (result.premis_version, result.files, result.events) == ("3.0", 300, 900)
    assert (await metadata.get_package(target)).event_count == 900


async def test_import_transfer_premis_xml(http: httpx.AsyncClient, metadata: MetadataClient) -> None:
    package_uuid = uuid.uuid4()
    await metadata.upsert_package(package_uuid, PackageUpsert(name="transfer"))
    record = file_record("objects/letters/1901.txt", package_uuid=package_uuid)
    await metadata.add_files(package_uuid, [record])
    response = await post(http, f"/premis/packages/{package_uuid}/import/premis", TRANSFER_PREMIS.encode())
    assert response.status_code == 200, response.text
    result = ImportResult.model_validate(response.json())
    assert (result.premis_version, result.events, result.rights, result.unmatched) == ("3.0", 1, 1, [])
    events = (await metadata.list_events(package_uuid, object_uuid=record.uuid)).items
    accession = [e for e in events if e.type == "accession"]
    assert accession[0].agents[0].name == "Donor office"
    rights = (await metadata.list_rights(package_uuid)).items
    assert rights[0].path == "objects/letters/1901.txt"
    assert rights[0].statement.basis == "Copyright"
    assert rights[0].statement.granted[0].restrictions == ["Disallow"]

    hostile = b'<?xml version="1.0"?><!DOCTYPE p [<!ENTITY x SYSTEM "file:///etc/passwd">]><p>&x;</p>'
    refused = await post(http, f"/premis/packages/{package_uuid}/import/premis", hostile)
    assert refused.status_code == 400 and refused.json()["title"] == "Unsafe XML refused"
    broken = await post(http, f"/premis/packages/{package_uuid}/import/mets", b"<mets:mets xmlns:mets='x'>")
    assert broken.status_code == 400 and broken.json()["title"] == "Malformed XML"
