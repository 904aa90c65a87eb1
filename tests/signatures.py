"""A ClamAV signature database for tests: the public EICAR test signature, plus a test-only body signature for
the corpus's Nukem samples (ClamAV's official database cannot be downloaded here)."""

from __future__ import annotations

from pathlib import Path

EICAR = r"X5O!P%@AP[4\PZX54(P^)7CC)7}$EICAR-STANDARD-ANTIVIRUS-TEST-FILE!$H+H*"
# Not ClamAV's official Win.Trojan.Nukem-1: a signature on the 48 bytes the corpus's sample files carry.
NUKEM_BODY = (
    "4e756b655f654d0000909090e8782600"
    "0084d284d27e05e860260000c3909090"
    "558bec83c4d853e85d2600008bda8945"
)


def write_test_signatures(database_dir: Path, *, nukem: bool = False) -> Path:
    database_dir.mkdir(parents=True, exist_ok=True)
    (database_dir / "custom.hdb").write_text("44d88612fea8a8f36de82e1278abb02f:68:Eicar-Test-Signature\n")
    body = "Eicar-NDB-Custom:0:*:" + b"EICAR-STANDARD-ANTIVIRUS-TEST-FILE".hex() + "\n"
    if nukem:
        body += f"Win.Trojan.Nukem-Custom:0:*:{NUKEM_BODY}\n"
    (database_dir / "custom.ndb").write_text(body)
    return database_dir
