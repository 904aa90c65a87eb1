"""servicekit.xmlschema: a transfer's mets_structmap.xml in the shapes it comes in, and the streaming validation
of a large METS (from a file, or fed piece by piece as it is downloaded), which must find what the tree validation
finds."""

from __future__ import annotations

from pathlib import Path

from servicekit.xmlschema import MetsFeed, validate_mets, validate_structmap

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


def _document(divs: int, bad_at: int | None = None) -> bytes:
    parts = [f'<mets:div LABEL="d{i}"><mets:fptr FILEID="f{i}"/></mets:div>' for i in range(divs)]
    if bad_at is not None:
        parts.insert(bad_at, "<mets:shelf/>")
    return (f'<mets:mets {METS}><mets:structMap><mets:div>{"".join(parts)}</mets:div></mets:structMap>'
            "</mets:mets>\n").encode()


def _fed(data: bytes, piece: int = 4096) -> list[str]:
    feed = MetsFeed()
    for start in range(0, len(data), piece):
        feed.feed(data[start:start + piece])
    return feed.close()


def test_a_document_fed_in_pieces_is_checked_as_a_whole_file_is(tmp_path: Path) -> None:
    assert _fed(_document(5000)) == []
    bad = _document(5000, bad_at=4000)
    errors = _fed(bad)
    path = tmp_path / "bad.xml"
    path.write_bytes(bad)
    assert len(errors) == 1 and "shelf" in errors[0]
    assert [e.split(": ", 1)[1] for e in errors] == [e.split(": ", 1)[1] for e in validate_mets(path)]
    # Cut short anywhere (a download that broke off), even where what was read is valid so far: never valid.
    whole = _document(2000)
    for cut in (100, len(whole) // 2, len(whole) - 20):
        assert _fed(whole[:cut]), cut
    assert _fed(b"<mets:mets") != [] and _fed(b"") != []
    # Every feed, finished or not, releases the schema for the next one.
    MetsFeed().close()
    assert _fed(_document(10)) == []
