"""The local filesystem backend on its own: the operations packages rely on, and its path guard."""

from __future__ import annotations

import hashlib
from pathlib import Path

import pytest

from services.storage.spaces.backend import UnsafePath
from services.storage.spaces.local import LocalFilesystemSpace


async def test_write_commit_read_stat_delete(tmp_path: Path) -> None:
    root = tmp_path / "location"
    space = LocalFilesystemSpace(root)
    await space.prepare()
    data = bytes(range(256)) * 9000
    incoming = await space.open_incoming("label")
    for start in range(0, len(data), 70_000):
        await incoming.write(data[start : start + 70_000])
    await incoming.finish()
    assert (incoming.size, incoming.sha256) == (len(data), hashlib.sha256(data).hexdigest())
    await incoming.commit("ab/cd/file.bin")
    await incoming.discard()  # after a commit it must not touch the placed file
    assert (root / "ab" / "cd" / "file.bin").read_bytes() == data
    assert list((root / ".incoming").iterdir()) == []

    stat = await space.stat("ab/cd/file.bin")
    assert stat is not None and stat.size == len(data)
    assert await space.stat("ab/cd/missing.bin") is None
    assert b"".join([chunk async for chunk in space.open_read("ab/cd/file.bin", 10, 300_000)]) == data[10:300_000]
    assert b"".join([chunk async for chunk in space.open_read("ab/cd/file.bin")]) == data

    assert await space.delete("ab/cd/file.bin") is True
    assert await space.delete("ab/cd/file.bin") is False
    assert sorted(p.name for p in root.iterdir()) == [".incoming"]  # the emptied folders are pruned too


async def test_discard_removes_the_temporary_file(tmp_path: Path) -> None:
    space = LocalFilesystemSpace(tmp_path)
    incoming = await space.open_incoming("x")
    await incoming.write(b"partial")
    await incoming.discard()
    await incoming.discard()
    assert list((tmp_path / ".incoming").iterdir()) == []


@pytest.mark.parametrize("path", ["..", "a/../../b", "/etc/passwd", "a\\..\\b", "nul\x00byte"])
def test_paths_leaving_the_location_are_refused(tmp_path: Path, path: str) -> None:
    with pytest.raises(UnsafePath):
        LocalFilesystemSpace(tmp_path).resolve(path)
