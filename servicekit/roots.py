"""The server folders a service may read and write: only those inside the roots the operator allowed.

A path is resolved first (made absolute, a relative one taken from the first root; `..` and every symlink
followed, of the path and of its parents), then compared with the resolved roots, so neither `../../etc` nor a
symlink inside a root pointing out of it gets through. Stored paths are checked again each time they are used:
a location recorded before the roots were set, or under a root the operator removed since, stops working.
"""

from __future__ import annotations

import os
from collections.abc import Iterable
from dataclasses import dataclass
from pathlib import Path

from servicekit.problems import Problem

OUTSIDE_ROOTS_TYPE = "https://amber.example/problems/outside-allowed-roots"


class PathNotAllowed(Problem):
    """A folder the service may not touch; the subclasses say why."""


class ExposesGuardedFolder(PathNotAllowed):
    def __init__(self, path: str, guarded: Path) -> None:
        super().__init__(
            422, "Path exposes the data directory",
            f"{path!r} is or contains {guarded}, which holds the service's keys and databases",
            type_=OUTSIDE_ROOTS_TYPE,
        )


class OutsideAllowedRoots(PathNotAllowed):
    def __init__(self, path: str, roots: AllowedRoots, what: str) -> None:
        # Where a link leads is not told: that would reveal the server's folders beyond the roots.
        listed = ", ".join(str(root) for root in roots.roots) or "none"
        super().__init__(
            422, "Path outside the allowed roots",
            f"{what} {path!r} is not inside the allowed roots ({listed}) once '..' and links are resolved; the "
            f"operator allows folders with the {roots.setting} setting",
            type_=OUTSIDE_ROOTS_TYPE,
        )


@dataclass(frozen=True)
class AllowedRoots:
    """The roots as configured, the name of the setting that configures them (named in every refusal), and the
    folders no allowed path may be or contain (the data directory, whose keys would otherwise be browsable)."""

    roots: tuple[Path, ...]
    setting: str
    guarded: tuple[Path, ...] = ()

    @classmethod
    def of(cls, roots: Iterable[Path], setting: str, guarded: Iterable[Path] = ()) -> AllowedRoots:
        def unique(paths: Iterable[Path]) -> tuple[Path, ...]:
            return tuple(dict.fromkeys(Path(os.path.abspath(os.path.expanduser(path))) for path in paths))

        return cls(unique(roots), setting, unique(guarded))

    def absolute(self, path: str | os.PathLike[str]) -> Path:
        """`path` made absolute without following links: a relative path is taken from the first root.

        `~` is not expanded: a path comes from a request, and the service's home is nobody's business there.
        """
        given = Path(path)
        if not given.is_absolute():
            if not self.roots:
                raise OutsideAllowedRoots(str(path), self, "The path")
            given = self.roots[0] / given
        return Path(os.path.abspath(given))

    def resolve(self, path: str | os.PathLike[str], what: str = "The path") -> Path:
        """The real path of `path` (which need not exist yet), refused unless it lies inside an allowed root.

        Blocking (it reads the filesystem): call it from a worker thread in async code.
        """
        try:
            real = Path(os.path.realpath(self.absolute(path), strict=False))
            real_roots = [Path(os.path.realpath(root)) for root in self.roots]
            real_guarded = [Path(os.path.realpath(folder)) for folder in self.guarded]
        except (OSError, ValueError) as exc:  # a loop of links, a NUL byte
            raise OutsideAllowedRoots(str(path), self, what) from exc
        if not any(real.is_relative_to(root) for root in real_roots):
            raise OutsideAllowedRoots(str(path), self, what)
        for folder in real_guarded:
            if folder.is_relative_to(real):
                raise ExposesGuardedFolder(str(path), folder)
        return real

    def allows(self, path: str | os.PathLike[str]) -> bool:
        try:
            self.resolve(path)
        except PathNotAllowed:
            return False
        return True
