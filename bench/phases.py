"""Wall time per phase of a long bench run, printed as it goes, and the node's CPU and memory.

A run that takes minutes must say where its time goes while it runs (a run stopped early still
tells), so each phase prints when it ends, and a long phase prints its progress (`Phases.tick`)
with the rate over the last interval and an ETA. `Proc` samples a process (anvil) from /proc:
CPU seconds and resident memory, no extra tool needed.
"""

from __future__ import annotations

import os
import subprocess
import time
from pathlib import Path
from typing import Any


class Proc:
    """CPU seconds and RSS of a process and its children (the npm anvil wrapper starts the binary)."""

    def __init__(self, pid: int | None) -> None:
        self.pids = [] if pid is None else [pid, *self._children(pid)]
        self._tick = os.sysconf("SC_CLK_TCK")

    @staticmethod
    def _children(pid: int) -> list[int]:
        try:
            out = subprocess.run(["pgrep", "-P", str(pid)], capture_output=True, text=True, check=False).stdout
        except OSError:
            return []
        kids = [int(x) for x in out.split()]
        return kids + [g for k in kids for g in Proc._children(k)]

    def sample(self) -> tuple[float, float]:
        """(CPU seconds used so far, RSS in MB) summed over the process tree."""
        cpu = rss = 0.0
        for pid in self.pids:
            try:
                fields = Path(f"/proc/{pid}/stat").read_text().rsplit(")", 1)[1].split()
                status = Path(f"/proc/{pid}/status").read_text()
            except OSError:
                continue
            cpu += (int(fields[11]) + int(fields[12])) / self._tick  # utime + stime
            for line in status.splitlines():
                if line.startswith("VmRSS:"):
                    rss += int(line.split()[1]) / 1024
        return cpu, rss


def load_average() -> str:
    return " ".join(f"{x:.2f}" for x in os.getloadavg())


class Phases:
    """`with phases.run("name"):` times a phase; `tick(done, total)` inside prints progress."""

    def __init__(self, label: str, node: Proc | None = None, every_s: float = 10.0) -> None:
        self.label = label
        self.node = node or Proc(None)
        self.every_s = every_s
        self.times: dict[str, float] = {}
        self.node_cpu: dict[str, float] = {}
        self.loads: list[str] = []
        self._name = ""
        self._started = self._last_at = 0.0
        self._last_done = 0
        self._cpu_at_start = 0.0

    def run(self, name: str) -> _Phase:
        return _Phase(self, name)

    def _begin(self, name: str) -> None:
        self._name = name
        self._started = self._last_at = time.perf_counter()
        self._last_done = 0
        self._cpu_at_start = self.node.sample()[0]
        print(f"[{self.label}] {name} ...", flush=True)

    def _end(self) -> None:
        elapsed = time.perf_counter() - self._started
        cpu, rss = self.node.sample()
        self.times[self._name] = round(elapsed, 2)
        self.node_cpu[self._name] = round(cpu - self._cpu_at_start, 1)
        self.loads.append(load_average())
        print(
            f"[{self.label}] {self._name}: {elapsed:.1f} s (node CPU {cpu - self._cpu_at_start:.1f} s, "
            f"RSS {rss:.0f} MB; load {load_average()})",
            flush=True,
        )

    def tick(self, done: int, total: int, unit: str = "holders", extra: str = "") -> None:
        """Progress inside the phase, printed at most every `every_s` seconds (and at the end)."""
        now = time.perf_counter()
        if now - self._last_at < self.every_s and done < total:
            return
        rate = (done - self._last_done) / max(now - self._last_at, 1e-9)
        overall = done / max(now - self._started, 1e-9)
        eta = (total - done) / overall if overall else float("inf")
        cpu, rss = self.node.sample()
        print(
            f"[{self.label}]   {self._name}: {done}/{total} {unit}, {rate:.0f}/s now, {overall:.0f}/s overall, "
            f"ETA {eta:.0f} s; node CPU {cpu - self._cpu_at_start:.0f} s, RSS {rss:.0f} MB{extra}",
            flush=True,
        )
        self._last_at, self._last_done = now, done

    def record(self) -> dict[str, Any]:
        return {"phase_s": dict(self.times), "node_cpu_s": dict(self.node_cpu), "load_average": self.loads[-1:]}


class _Phase:
    def __init__(self, phases: Phases, name: str) -> None:
        self.phases, self.name = phases, name

    def __enter__(self) -> Phases:
        self.phases._begin(self.name)
        return self.phases

    def __exit__(self, *exc: object) -> None:
        self.phases._end()
