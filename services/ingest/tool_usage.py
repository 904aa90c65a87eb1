"""What each one-off tool run cost: the CPU seconds of the child, read from its rusage when it is reaped (exact
whatever else runs alongside), and the number of runs, by tool and command.

Labels are fixed names from the code or the format policy registry (`pngcheck`, `Validate PNG`, `list zip`): never
a file or a path.
"""

from __future__ import annotations

import resource

from prometheus_client import CollectorRegistry, Counter


class ToolUsage:
    """Thread-safe (prometheus_client's counters are). Without a registry the figures are kept, not exported."""

    def __init__(self, registry: CollectorRegistry | None = None) -> None:
        self.runs = Counter("amber_tool_runs", "One-off tool runs the worker waited for, by tool and command.",
                            ["tool", "command"], registry=registry)
        self.cpu = Counter("amber_tool_cpu_seconds",
                           "CPU seconds (user and system) of the one-off tool runs the worker waited for, by tool "
                           "and command; a tool's own children count once the tool has waited for them.",
                           ["tool", "command"], registry=registry)

    def add(self, tool: str, command: str, cpu_seconds: float) -> None:
        self.runs.labels(tool, command).inc()
        self.cpu.labels(tool, command).inc(max(cpu_seconds, 0.0))

    def add_rusage(self, tool: str, command: str, usage: resource.struct_rusage) -> None:
        self.add(tool, command, usage.ru_utime + usage.ru_stime)
