"""Per-process figures of a running stack for the benchmarks: peak RSS and bytes read and written, by process.

`RssSampler` (below) gives the peak of the stack's summed RSS and what made it up; a memory target per process (and the
question "which stage reads the file how many times") needs each process on its own. Every stack process
(`<data>/run/*.pid`) and each of its descendants is sampled every `every` seconds; a descendant is labelled
`<stack process>: <its name>` (`worker-0: clamd`, `worker-0: 7z`). Bytes are the kernel's `rchar`/`wchar`
(`/proc/PID/io`: what the process asked to read and write, page cache included), so a file read twice counts
twice even when it is cached. The kernel adds a child's counters to its parent's when the parent reaps it; what
was seen of a reaped child is taken off its parent again, so each process shows its own I/O (the last `every`
seconds of a short-lived tool's I/O stay with its parent).
"""

from __future__ import annotations

import contextlib
import ctypes
import os
import threading
from collections.abc import Callable, Iterator, Mapping
from dataclasses import dataclass
from pathlib import Path
from typing import Self

import psutil

PF_FORKNOEXEC = 0x40  # a task flag: forked and not (yet) exec'd
KCMP_VM = 1
SYS_KCMP = {"x86_64": 312, "aarch64": 272}.get(os.uname().machine)
LIBC = ctypes.CDLL(None, use_errno=True)


def shares_parents_memory(pid: int, parent: int) -> bool:
    """Whether `pid` is a vfork child still in its parent's address space (between vfork and exec).

    The worker starts every one-off tool with vfork: for the few microseconds before the exec, the child *is*
    its parent's memory, and summing its RSS counts the worker twice. A sampler that takes the highest sum over
    thousands of samples finds those moments (seen: two tools caught mid-spawn made 680 of a 1,916 MB peak). A
    forked child (the Python host's runs) has an address space of its own and is counted; `kcmp` tells the two
    apart."""
    if SYS_KCMP is None:
        return False
    try:
        with open(f"/proc/{pid}/stat", "rb") as stat:
            flags = int(stat.read().rsplit(b")", 1)[1].split()[6])
    except (OSError, ValueError, IndexError):
        return False
    return bool(flags & PF_FORKNOEXEC) and LIBC.syscall(SYS_KCMP, parent, pid, KCMP_VM, 0, 0) == 0


def stack_members(roots: Mapping[str, int]) -> Iterator[tuple[str, psutil.Process]]:
    """Each process `roots` names and each of its descendants, labelled `<name>` or `<name>: <process name>`,
    leaving out vfork children not yet exec'd (their parent's memory: see `shares_parents_memory`)."""
    for name, pid in roots.items():
        try:
            root = psutil.Process(pid)
            members = [root, *root.children(recursive=True)]
        except psutil.Error:
            continue
        for member in members:
            try:
                if member.pid != pid and shares_parents_memory(member.pid, member.ppid()):
                    continue
                yield (name if member.pid == pid else f"{name}: {member.name()}"), member
            except psutil.Error:
                continue


@dataclass
class Figures:
    peak_rss: int = 0
    read: int = 0
    written: int = 0
    parent: int = 0
    # Gone while its parent was still there: the parent's counters, sampled since, include it.
    reaped: bool = False


def stack_pids(data_dir: Path) -> dict[str, int]:
    """The stack processes `amber up` started in `data_dir` (none before it has started)."""
    run = data_dir / "run"
    pids: dict[str, int] = {}
    for path in run.glob("*.pid") if run.is_dir() else ():
        with contextlib.suppress(OSError, ValueError):  # being written or removed
            pids[path.stem] = int(path.read_text().strip())
    return pids


class StackSampler(threading.Thread):
    """A thread that calls `sample()` every `every` seconds over the processes `roots()` names, from `with` to its
    end."""

    def __init__(self, roots: Callable[[], Mapping[str, int]], every: float = 0.2) -> None:
        super().__init__(daemon=True)
        self.roots, self.every, self.stop = roots, every, threading.Event()

    def sample(self) -> None:
        raise NotImplementedError

    def run(self) -> None:
        while not self.stop.is_set():
            self.sample()
            self.stop.wait(self.every)

    def __enter__(self) -> Self:
        self.start()
        return self

    def __exit__(self, *exc: object) -> None:
        self.stop.set()
        self.join()


class ProcessWatch(StackSampler):
    """Peak RSS and I/O of each process `roots()` names, and of each of their descendants, while running."""

    def __init__(self, roots: Callable[[], Mapping[str, int]], every: float = 0.2) -> None:
        super().__init__(roots, every)
        # Per pid: its label and figures (a pid's I/O counters are cumulative: the last sample is its total).
        self.seen: dict[int, tuple[str, Figures]] = {}

    def sample(self) -> None:
        present: set[int] = set()
        for label, member in stack_members(self.roots()):
            try:
                with member.oneshot():
                    rss = member.memory_info().rss
                    io = member.io_counters()
                    parent = member.ppid()
            except psutil.Error:
                continue
            present.add(member.pid)
            _, figures = self.seen.setdefault(member.pid, (label, Figures(parent=parent)))
            figures.peak_rss = max(figures.peak_rss, rss)
            figures.read = max(figures.read, getattr(io, "read_chars", io.read_bytes))
            figures.written = max(figures.written, getattr(io, "write_chars", io.write_bytes))
        for pid, (_, figures) in self.seen.items():
            if pid not in present and figures.parent in present:
                figures.reaped = True

    def by_label(self) -> dict[str, Figures]:
        """Figures per label: the highest peak RSS of the processes so labelled, and the sum of their own I/O."""
        reaped: dict[int, Figures] = {}
        for _, figures in self.seen.values():
            if figures.reaped:
                into = reaped.setdefault(figures.parent, Figures())
                into.read += figures.read
                into.written += figures.written
        out: dict[str, Figures] = {}
        for pid, (label, figures) in self.seen.items():
            total = out.setdefault(label, Figures())
            children = reaped.get(pid, Figures())
            total.peak_rss = max(total.peak_rss, figures.peak_rss)
            total.read += max(figures.read - children.read, 0)
            total.written += max(figures.written - children.written, 0)
        return out



class RssSampler(StackSampler):
    """Peak of the summed RSS of the processes `roots` names and all their descendants, and who made it up.

    Summed RSS counts pages that processes share (libraries, a fork's copy-on-write pages) once per process: it
    is the conservative figure, and the one the targets name. `peak_pss` is the peak of the summed proportional
    set size, each shared page split between its sharers: what the stack takes from the machine. A vfork child
    that has not yet exec'd is its parent's memory and counted in neither (see `shares_parents_memory`).
    `at_peak` is each process's RSS at the moment of the summed peak (labelled as `ProcessWatch` does:
    `worker-0`, `worker-0: clamd`), and `peaks` each label's own highest RSS, so a memory target that fails says
    which process to look at.
    """

    def __init__(self, roots: Callable[[], Mapping[str, int]], every: float = 0.2) -> None:
        super().__init__(roots, every)
        self.peak, self.peak_pss, self.samples = 0, 0, 0
        self.at_peak: dict[str, int] = {}
        self.peaks: dict[str, int] = {}

    def sample(self) -> None:
        # PSS reads every mapping's figures (smaps_rollup): about once a second, not at every sample.
        with_pss, self.samples = self.samples % max(1, round(1 / self.every)) == 0, self.samples + 1
        seen: dict[int, tuple[str, int, int]] = {}
        for label, member in stack_members(self.roots()):
            try:
                if with_pss:
                    memory = member.memory_full_info()
                    seen[member.pid] = (label, memory.rss, memory.pss)
                else:
                    seen[member.pid] = (label, member.memory_info().rss, 0)
            except psutil.Error:
                pass
        by_label: dict[str, int] = {}
        for label, rss, _ in seen.values():
            by_label[label] = by_label.get(label, 0) + rss
            self.peaks[label] = max(self.peaks.get(label, 0), rss)
        total = sum(by_label.values())
        if total > self.peak:
            self.peak, self.at_peak = total, by_label
        self.peak_pss = max(self.peak_pss, sum(pss for _, _, pss in seen.values()))

    def report(self, top: int = 8) -> str:
        """The largest parts of the summed peak, then the largest peaks of single processes."""
        def listing(figures: Mapping[str, int]) -> str:
            ranked = sorted(figures.items(), key=lambda item: -item[1])[:top]
            return ", ".join(f"{label} {rss / 1e6:.0f}" for label, rss in ranked)
        return (f"  at the peak of summed RSS ({self.peak / 1e6:.0f} MB), MB: {listing(self.at_peak)}\n"
                f"  each process's own peak RSS, MB: {listing(self.peaks)}\n"
                f"  peak of summed PSS (shared pages split between their sharers): {self.peak_pss / 1e6:.0f} MB")
