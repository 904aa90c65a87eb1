"""Our BagIt validator against the Library of Congress conformance suite, every case of EXPECTED.tsv."""

from __future__ import annotations

import csv
from pathlib import Path

import pytest

from services.transfer.transfers.bagit import validate_bag

SUITE = Path(__file__).resolve().parents[2] / ".." / "shared" / "corpus" / "bagit-conformance"

pytestmark = pytest.mark.skipif(
    not (SUITE / "EXPECTED.tsv").is_file(), reason=f"the BagIt conformance suite is absent ({SUITE})"
)


def expected_verdict(text: str) -> set[str]:
    """The verdicts `expected_on_linux` allows: valid, warning (valid with warnings) or invalid."""
    if text.startswith("invalid or warning"):
        return {"invalid", "warning"}
    if text.startswith("invalid") or "should still reject" in text:
        return {"invalid"}
    if text.startswith("warning"):
        return {"warning"}
    if text.startswith("valid"):
        return {"valid"}
    raise AssertionError(f"unknown expectation {text!r}")


def test_every_conformance_case_gets_its_expected_linux_verdict() -> None:
    with (SUITE / "EXPECTED.tsv").open(encoding="utf-8", newline="") as table:
        rows = list(csv.DictReader(table, delimiter="\t"))
    wrong = []
    for row in rows:
        report = validate_bag(SUITE / row["case"])
        verdict = "invalid" if not report.valid else ("warning" if report.warnings else "valid")
        if verdict not in expected_verdict(row["expected_on_linux"]):
            wrong.append(f"{row['case']}: got {verdict} ({report.errors or report.warnings}), "
                         f"expected {row['expected_on_linux']}")
    ok = len(rows) - len(wrong)
    print(f"bagit conformance: {ok}/{len(rows)}")
    assert not wrong, f"bagit conformance: {ok}/{len(rows)}; wrong: " + "\n".join(wrong)
    assert len(rows) == 60


def test_a_failed_validation_names_every_bad_file() -> None:
    report = validate_bag(SUITE / "v0.97" / "invalid" / "corrupt-tag-file")
    assert not report.valid
    bad = {path for path, _reason in report.errors}
    assert {"bagit.txt", "bag-info.txt", "manifest-md5.txt"} <= bad
    assert "bagit conformance" not in report.summary()
    assert "does not match" in report.summary()
