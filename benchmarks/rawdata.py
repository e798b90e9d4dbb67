"""A benchmark's raw measurements: the record of one run, how runs are
summarised, the line each run gets in the results file, and the JSON file
written beside it, from which tables and charts can be made again without
measuring again (``run.py --chart-from``).

Results files written before the JSON existed list every run in their
"Individual runs" block; ``from_markdown`` reads those back.
"""

from __future__ import annotations

import json
import math
import re
import statistics
from dataclasses import asdict, dataclass, field, fields
from pathlib import Path
from typing import Any, Callable, Dict, Iterable, List, Optional, Sequence, Tuple

#: version of the JSON layout below
SCHEMA = 1


@dataclass
class RunResult:
    ok: bool
    wall: float = float("nan")
    cpu: float = float("nan")
    rss_mb: float = float("nan")
    #: peak of the server tree's summed proportional set size (pages shared
    #: between its processes counted once), sampled during the transfer
    pss_mb: float = float("nan")
    client_cpu: float = float("nan")
    cpu_user: float = float("nan")
    cpu_sys: float = float("nan")
    files: int = 0
    expected: int = 0
    out_mb: float = 0.0
    error: str = ""

    def set_cpu(self, before: Tuple[float, float], after: Tuple[float, float]) -> None:
        self.cpu_user = after[0] - before[0]
        self.cpu_sys = after[1] - before[1]
        self.cpu = self.cpu_user + self.cpu_sys


#: how the runs of one (workload, server) cell become the table's figure:
#: times are the median, memory the worst run
AGGREGATE: Dict[str, Callable[[Iterable[float]], float]] = {
    "wall": statistics.median,
    "cpu": statistics.median,
    "rss_mb": max,
    "pss_mb": max,
    "client_cpu": statistics.median,
}


def summarize(runs: Sequence[RunResult]) -> RunResult:
    good = [r for r in runs if r.ok]
    if not good:
        r = runs[-1]
        return RunResult(ok=False, files=r.files, expected=r.expected, error=r.error)
    figures: Dict[str, Any] = {name: agg(getattr(r, name) for r in good) for name, agg in AGGREGATE.items()}
    return RunResult(
        ok=len(good) == len(runs), **figures,
        files=good[-1].files, expected=good[-1].expected, out_mb=good[-1].out_mb,
        error="; ".join(sorted({r.error for r in runs if r.error})),
    )


def fmt(x: float, digits: int = 2) -> str:
    return "–" if x != x else f"{x:.{digits}f}"


def run_line(wkey: str, skey: str, i: int, repeat: int, r: RunResult, state: str) -> str:
    """The run's line in the results file's "Individual runs" block."""
    return (f"{wkey:10s} {skey:10s} run {i + 1}/{repeat}: "
            f"wall {fmt(r.wall)} s, cpu {fmt(r.cpu)} s "
            f"(usr {fmt(r.cpu_user)} sys {fmt(r.cpu_sys)}), "
            f"rss {fmt(r.rss_mb, 1)} MB, pss {fmt(r.pss_mb, 1)} MB, client cpu {fmt(r.client_cpu)} s, "
            f"files {r.files}/{r.expected} — {state}")


_NUM = r"(–|[0-9.]+)"
_RUN_LINE = re.compile(
    rf"^(?P<wkey>.+?)\s+(?P<skey>\S+)\s+run (?P<i>\d+)/(?P<n>\d+): "
    rf"wall {_NUM} s, cpu {_NUM} s \(usr {_NUM} sys {_NUM}\), "
    rf"rss {_NUM} MB,(?: pss (?P<pss>–|[0-9.]+) MB,)? client cpu {_NUM} s, "
    rf"files (?P<files>\d+)/(?P<expected>\d+) — (?P<state>.*)$")


def _number(text: str) -> float:
    return float("nan") if text == "–" else float(text)


def parse_run_line(line: str) -> Optional[Tuple[str, str, RunResult]]:
    """(workload key, server key, run) of a line made by ``run_line``."""
    m = _RUN_LINE.match(line.strip())
    if not m:
        return None
    wall, cpu, usr, sys_, rss = (_number(m.group(k)) for k in range(5, 10))
    client = _number(m.group(11))
    pss = _number(m.group("pss") or "–")     # lines written before PSS was measured
    state = m.group("state")
    ok = state == "ok"
    return m.group("wkey"), m.group("skey"), RunResult(
        ok=ok, wall=wall, cpu=cpu, rss_mb=rss, pss_mb=pss, client_cpu=client, cpu_user=usr,
        cpu_sys=sys_, files=int(m.group("files")), expected=int(m.group("expected")),
        error="" if ok else state)


@dataclass
class WorkloadRuns:
    key: str
    title: str
    reference: str                     # server key the ratios are against
    runs: Dict[str, List[RunResult]]   # server key -> its runs, in table order


@dataclass
class Results:
    date: str
    machine: str          # e.g. "vm x86_64, 2 CPUs"
    file_system: str      # where the servers wrote, e.g. "ext4"
    labels: Dict[str, str]             # server key -> name shown
    workloads: List[WorkloadRuns]
    header: List[str] = field(default_factory=list)   # the results file's header lines

    def to_json(self) -> Dict[str, Any]:
        return {
            "schema": SCHEMA, "date": self.date, "machine": self.machine,
            "file_system": self.file_system, "labels": self.labels, "header": self.header,
            "workloads": [
                {"key": w.key, "title": w.title, "reference": w.reference,
                 "runs": {s: [_run_to_json(r) for r in runs] for s, runs in w.runs.items()}}
                for w in self.workloads],
        }

    @classmethod
    def from_json(cls, data: Dict[str, Any]) -> "Results":
        if data.get("schema") != SCHEMA:
            raise ValueError(f"raw results schema {data.get('schema')!r}, expected {SCHEMA}")
        return cls(
            date=data["date"], machine=data["machine"], file_system=data["file_system"],
            labels=dict(data["labels"]), header=list(data.get("header", [])),
            workloads=[WorkloadRuns(w["key"], w["title"], w["reference"],
                                    {s: [_run_from_json(r) for r in runs]
                                     for s, runs in w["runs"].items()})
                       for w in data["workloads"]])


_FIELDS = {f.name for f in fields(RunResult)}


def _run_to_json(r: RunResult) -> Dict[str, Any]:
    # NaN (not measured) is not JSON: null
    return {k: (None if isinstance(v, float) and math.isnan(v) else v)
            for k, v in asdict(r).items()}


def _run_from_json(d: Dict[str, Any]) -> RunResult:
    values: Dict[str, Any] = {k: (float("nan") if v is None else v)
                              for k, v in d.items() if k in _FIELDS}
    return RunResult(**values)


def save(results: Results, path: Path) -> None:
    path.write_text(json.dumps(results.to_json(), indent=1, ensure_ascii=False) + "\n")


def load(path: Path) -> Results:
    """Raw results from the JSON file, or from a results .md file's header,
    table and "Individual runs" block."""
    if path.suffix == ".md":
        return from_markdown(path.read_text())
    return Results.from_json(json.loads(path.read_text()))


# What the results file's header and table say, as written by run.py.
_LABEL_TO_KEY = {
    "DCMTK storescp": "dcmtk", "DCMTK storescp --fork": "dcmtk-fork",
    "pynetdicom storescp": "pynetdicom", "fastscp": "fastscp",
}
_FORK_REFERENCE = "dcmtk-fork"


def from_markdown(text: str) -> Results:
    lines = text.splitlines()
    header = [ln for ln in lines[:next((i for i, ln in enumerate(lines) if ln.startswith("|")),
                                       len(lines))] if ln.strip()]
    info = {m.group(1): m.group(2) for m in (re.match(r"- ([a-z ]+): (.*)", ln) for ln in header)
            if m}
    machine = ", ".join(info.get("host", "?").split(", ")[:2])   # "vm x86_64, 2 CPUs"
    fs = re.search(r"\((\w+)[;)]", info.get("output written to", ""))
    # table rows give each workload's title and the servers' names, in order
    titles: List[str] = []
    labels: Dict[str, str] = {}
    for ln in lines:
        cells = [c.strip() for c in ln.strip().strip("|").split("|")]
        if len(cells) < 3 or cells[1] not in _LABEL_TO_KEY:
            continue
        labels[_LABEL_TO_KEY[cells[1]]] = cells[1]
        if cells[0] not in titles:
            titles.append(cells[0])
    by_workload: Dict[str, Dict[str, List[RunResult]]] = {}
    for ln in lines:
        parsed = parse_run_line(ln)
        if parsed:
            wkey, skey, run = parsed
            by_workload.setdefault(wkey, {}).setdefault(skey, []).append(run)
    if len(titles) != len(by_workload):
        raise ValueError(f"{len(titles)} workloads in the table but {len(by_workload)} "
                         f"in the individual runs")
    workloads = [
        WorkloadRuns(wkey, title, _FORK_REFERENCE if _FORK_REFERENCE in runs else "dcmtk", runs)
        for (wkey, runs), title in zip(by_workload.items(), titles)]
    return Results(date=info.get("date", "?"), machine=machine,
                   file_system=fs.group(1) if fs else "?", labels=labels,
                   workloads=workloads, header=header)
