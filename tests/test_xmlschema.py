"""servicekit.xmlschema: a transfer's mets_structmap.xml in the shapes it comes in, and the streaming validation
of a large METS, which must find what the tree validation finds."""

from __future__ import annotations

from pathlib import Path

from servicekit.xmlschema import validate_mets, validate_structmap

METS = 'xmlns:mets="http://www.loc.gov/METS/"'
FRAGMENT = f'<mets:structMap {METS} TYPE="logical"><mets:div LABEL="a"><mets:fptr FILEID="a.txt"/></mets:div>' \
           "</mets:structMap>"


def test_structmaps_as_fragments_documents_or_several(tmp_path: Path) -> None:
    cases = {
        "fragment.xml": FRAGMENT,
        "whole.xml": f"<mets:mets {METS}>{FRAGMENT.replace(METS, '')}</mets:mets>",
        "several.xml": f"<maps>{FRAGMENT}{FRAGMENT}</maps>",
    }
    for name, text in cases.items():
        (tmp_path / name).write_text(text)
        assert validate_structmap(tmp_path / name) == [], name
    (tmp_path / "bad.xml").write_text(FRAGMENT.replace("<mets:fptr", "\n<mets:shelf/><mets:fptr"))
    errors = validate_structmap(tmp_path / "bad.xml")
    assert len(errors) == 1 and errors[0].startswith("line 2: Element '{http://www.loc.gov/METS/}shelf'")
    (tmp_path / "none.xml").write_text("<maps/>")
    assert "no mets:structMap" in validate_structmap(tmp_path / "none.xml")[0]


def test_streaming_validation_finds_an_error_deep_in_a_large_document(tmp_path: Path) -> None:
    divs = [f'<mets:div LABEL="d{i}"><mets:fptr FILEID="f{i}"/></mets:div>' for i in range(20_000)]
    bad = "".join(divs[:10_000]) + "<mets:shelf/>" + "".join(divs[10_000:])
    path = tmp_path / "big.xml"
    path.write_text(f'<mets:mets {METS}><mets:structMap><mets:div>{bad}</mets:div></mets:structMap></mets:mets>')
    streamed = validate_mets(path, tree_limit=0)
    assert len(streamed) == 1 and "shelf" in streamed[0]
    assert [e.split(": ", 1)[1] for e in validate_mets(path)] == [e.split(": ", 1)[1] for e in streamed]


def test_streaming_validation_of_a_premis_document_finds_an_error_deep_in_it(tmp_path: Path) -> None:
    """A PREMIS document (root premis:premis) streamed: its entities are emptied as they end, and a bad field
    inside one is found as the tree validation finds it."""
    premis = 'xmlns:premis="http://www.loc.gov/premis/v3" version="3.0"'
    xsi = 'xmlns:xsi="http://www.w3.org/2001/XMLSchema-instance"'

    def entity(i: int, size: str) -> str:
        return (
            '<premis:object xsi:type="premis:file"><premis:objectIdentifier>'
            f"<premis:objectIdentifierType>UUID</premis:objectIdentifierType><premis:objectIdentifierValue>{i}"
            "</premis:objectIdentifierValue></premis:objectIdentifier><premis:objectCharacteristics>"
            f"<premis:compositionLevel>0</premis:compositionLevel><premis:size>{size}</premis:size>"
            "<premis:format><premis:formatDesignation><premis:formatName>x</premis:formatName>"
            "</premis:formatDesignation></premis:format></premis:objectCharacteristics></premis:object>\n"
        )

    objects = [entity(i, "12") for i in range(5_000)]
    objects[3_000] = entity(3_000, "twelve")
    path = tmp_path / "premis.xml"
    path.write_text(f"<premis:premis {premis} {xsi}>\n{''.join(objects)}</premis:premis>\n")
    streamed = validate_mets(path, tree_limit=0)
    assert len(streamed) == 1 and "twelve" in streamed[0]
    assert [e.split(": ", 1)[1] for e in validate_mets(path)] == [e.split(": ", 1)[1] for e in streamed]
    path.write_text(f"<premis:premis {premis} {xsi}>\n{''.join(objects[:3_000] + objects[3_001:])}</premis:premis>\n")
    assert validate_mets(path, tree_limit=0) == validate_mets(path) == []


def test_streaming_validation_refuses_a_cut_short_document_and_a_doctype(tmp_path: Path) -> None:
    """A truncated document is not well-formed (lxml lost that error when told to keep entities unresolved with a
    schema plugged in); with entities resolved, a document type declaration, which could declare them, is
    refused before anything is parsed."""
    divs = "".join(f'<mets:div LABEL="d{i}"><mets:fptr FILEID="f{i}"/></mets:div>' for i in range(5_000))
    whole = f'<mets:mets {METS}><mets:structMap><mets:div>{divs}</mets:div></mets:structMap></mets:mets>'
    path = tmp_path / "doc.xml"
    path.write_text(whole)
    assert validate_mets(path, tree_limit=0) == []
    path.write_text(whole[:-300])
    assert validate_mets(path, tree_limit=0) != []
    path.write_text('<?xml version="1.0"?>\n<!-- a comment -->\n<!DOCTYPE mets:mets [<!ENTITY a "a">]>' + whole)
    assert validate_mets(path, tree_limit=0) == ["line ?: document type declarations are not accepted"]
