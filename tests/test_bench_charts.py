"""benchmarks/run.py's raw results (JSON, and the results .md's individual
runs read back) and its charts (benchmarks/charts.py, matplotlib)."""

from __future__ import annotations

import importlib.util
import math
import re
import struct
import sys
import xml.etree.ElementTree as ET
from pathlib import Path
from typing import Dict, List

import pytest

BENCH = Path(__file__).resolve().parent.parent / "benchmarks"
sys.path.insert(0, str(BENCH))

import rawdata  # noqa: E402
import run  # noqa: E402
from rawdata import Results, RunResult, WorkloadRuns  # noqa: E402

HAVE_MATPLOTLIB = importlib.util.find_spec("matplotlib") is not None
needs_matplotlib = pytest.mark.skipif(
    not HAVE_MATPLOTLIB, reason="matplotlib not installed (pip install '.[bench]')")

LABELS = {"dcmtk": "DCMTK storescp", "dcmtk-fork": "DCMTK storescp --fork",
          "pynetdicom": "pynetdicom storescp", "fastscp": "fastscp"}


def _runs(walls: List[float], cpu_share: float, rss: float) -> List[RunResult]:
    return [RunResult(ok=True, wall=w, cpu=w * cpu_share, rss_mb=rss + i, client_cpu=0.3,
                      cpu_user=w * cpu_share / 2, cpu_sys=w * cpu_share / 2,
                      files=10, expected=10) for i, w in enumerate(walls)]


def synthetic() -> Results:
    one: Dict[str, List[RunResult]] = {
        "dcmtk": _runs([1.0, 1.2, 1.1], 0.6, 16.0),
        "pynetdicom": _runs([9.0, 10.0, 11.0], 0.9, 58.0),
        "fastscp": _runs([0.5, 0.6, 0.7], 0.7, 70.0),
    }
    many: Dict[str, List[RunResult]] = {
        "dcmtk-fork": _runs([0.8, 0.9, 1.0], 0.8, 14.0),
        # a server that failed every run: named in the chart, no bar
        "pynetdicom": [RunResult(ok=False, expected=10, error="server died")],
        "fastscp": _runs([0.9, 1.0, 1.4], 0.8, 93.0),
    }
    return Results(date="2026-12-02 10:00:00 UTC", machine="testhost x86_64, 2 CPUs",
                   file_system="ext4", labels=LABELS,
                   workloads=[WorkloadRuns("ct", "10 CT 512x512x16", "dcmtk", one),
                              WorkloadRuns("ct-8", "10 CT, 8 senders at once", "dcmtk-fork",
                                           many)],
                   header=["# fastscp benchmark (full)"])


def test_json_round_trip_keeps_every_run(tmp_path: Path) -> None:
    results = synthetic()
    results.workloads[0].runs["fastscp"][1].cpu_sys = float("nan")   # not measured
    path = tmp_path / "r.json"
    rawdata.save(results, path)
    assert "NaN" not in path.read_text()          # strict JSON: null
    back = rawdata.load(path)
    assert [w.key for w in back.workloads] == ["ct", "ct-8"]
    assert back.workloads[1].reference == "dcmtk-fork"
    assert back.labels == LABELS and back.file_system == "ext4"
    assert math.isnan(back.workloads[0].runs["fastscp"][1].cpu_sys)
    assert back.to_json() == results.to_json()      # NaN != NaN: compared as null


def test_run_line_parses_back() -> None:
    run = _runs([0.52], 0.7, 70.8)[0]
    line = rawdata.run_line("ct +te", "dcmtk-fork", 2, 5, run, "ok")
    wkey, skey, back = rawdata.parse_run_line(line)  # type: ignore[misc]
    assert (wkey, skey) == ("ct +te", "dcmtk-fork")
    assert back.ok and back.wall == 0.52 and back.rss_mb == 70.8 and back.files == 10
    failed = rawdata.run_line("small", "fastscp", 0, 5, RunResult(ok=False, expected=9),
                              "FAILED (server died)")
    _, _, back = rawdata.parse_run_line(failed)  # type: ignore[misc]
    assert not back.ok and math.isnan(back.wall) and back.error == "FAILED (server died)"


def test_run_line_with_and_without_pss() -> None:
    """PSS is written and read back; lines written before it was measured
    still parse, with PSS unknown."""
    run = _runs([0.52], 0.7, 70.8)[0]
    run.pss_mb = 41.3
    line = rawdata.run_line("multiframe", "fastscp", 0, 5, run, "ok")
    assert ", pss 41.3 MB," in line
    back = rawdata.parse_run_line(line)[2]  # type: ignore[index]
    assert back.pss_mb == 41.3 and back.rss_mb == 70.8 and back.client_cpu == 0.3
    older = line.replace(" pss 41.3 MB,", "")
    back = rawdata.parse_run_line(older)[2]  # type: ignore[index]
    assert math.isnan(back.pss_mb) and back.rss_mb == 70.8 and back.files == 10


@pytest.mark.parametrize("name", ["latest.md", "tmpfs.md"])
def test_results_md_runs_give_its_table(name: str) -> None:
    """The committed results' individual runs, read back, summarise to the
    figures in their table: the charts drawn from them show the same run."""
    text = (BENCH / "results" / name).read_text()
    results = rawdata.from_markdown(text)
    assert results.date.startswith("20") and results.machine.endswith("CPUs")
    assert results.file_system in ("ext4", "tmpfs")
    rows = [[c.strip() for c in ln.strip("|").split("|")] for ln in text.splitlines()
            if ln.startswith("| ") and "/" in ln.split("|")[-3]]
    table = {(cells[0], cells[1]): (cells[2], cells[3], cells[4]) for cells in rows}
    checked = 0
    for w in results.workloads:
        for skey, runs in w.runs.items():
            s = rawdata.summarize(runs)
            assert table[(w.title, results.labels[skey])] == (
                f"{s.wall:.2f}", f"{s.cpu:.2f}", f"{s.rss_mb:.1f}")
            checked += 1
    assert checked == len(table) >= 10


def _png_size(path: Path) -> tuple:
    data = path.read_bytes()
    assert data[:8] == b"\x89PNG\r\n\x1a\n" and data[12:16] == b"IHDR"
    return struct.unpack(">II", data[16:24])


def _svg_text(path: Path) -> str:
    root = ET.parse(path).getroot()
    assert root.tag == "{http://www.w3.org/2000/svg}svg"
    return " ".join(t for el in root.iter() for t in (el.text,) if t)


@needs_matplotlib
def test_charts_are_png_and_svg_naming_every_server(tmp_path: Path) -> None:
    import charts

    results = synthetic()
    written = charts.write_charts(results, tmp_path / "bench")
    assert sorted(written) == sorted(charts.chart_paths(tmp_path / "bench", results))
    assert {p.name for p in written} == {
        f"bench{part}.{ext}" for part in ("", "-ct", "-ct-8") for ext in ("png", "svg")}
    from matplotlib.image import imread
    for p in written:
        if p.suffix == ".png":
            width, height = _png_size(p)
            assert width > 600 and height > 200
            assert imread(p).shape[:2] == (height, width)     # decodes whole
    overview = _svg_text(tmp_path / "bench.svg")
    for label in LABELS.values():
        assert label in overview
    ct = _svg_text(tmp_path / "bench-ct.svg")
    assert "10 CT 512x512x16" in ct and "testhost x86_64, 2 CPUs, ext4, 2026-12-02" in ct
    assert "DCMTK storescp --fork" not in ct           # not in that workload
    assert "(0.55×)" in ct          # fastscp median wall 0.6 s vs DCMTK 1.1 s
    assert re.search(r"wall time, s", ct) and "peak RSS, MB" in ct and "server CPU, s" in ct
    assert "failed" in _svg_text(tmp_path / "bench-ct-8.svg")


@needs_matplotlib
def test_chart_from_json_writes_charts_beside_it(tmp_path: Path) -> None:
    path = tmp_path / "earlier.json"
    rawdata.save(synthetic(), path)
    assert run.main(["--chart-from", str(path)]) == 0
    for name in ("earlier.png", "earlier.svg", "earlier-ct-8.png", "earlier-ct.svg"):
        assert (tmp_path / name).stat().st_size > 1000


@needs_matplotlib
def test_chart_from_older_md_saves_its_runs_as_json(tmp_path: Path) -> None:
    md = tmp_path / "tmpfs.md"
    md.write_text((BENCH / "results" / "tmpfs.md").read_text())
    assert run.main(["--chart-from", str(md)]) == 0
    saved = rawdata.load(tmp_path / "tmpfs.json")
    assert saved.to_json() == rawdata.from_markdown(md.read_text()).to_json()
    assert len(saved.workloads) == 5
    assert all((tmp_path / f"tmpfs-{w.key}.svg").exists() for w in saved.workloads)


def test_without_matplotlib_run_says_so(tmp_path: Path, monkeypatch: pytest.MonkeyPatch,
                                        capsys: pytest.CaptureFixture[str]) -> None:
    monkeypatch.setitem(sys.modules, "matplotlib", None)    # import fails
    path = tmp_path / "earlier.json"
    rawdata.save(synthetic(), path)
    # after a measurement: a note, and the run goes on
    assert run.write_charts(synthetic(), tmp_path / "latest.md", required=False) is False
    assert "note: no charts" in capsys.readouterr().out
    # asked for charts only: an error
    assert run.main(["--chart-from", str(path)]) == 2
    assert "fastscp[bench]" in capsys.readouterr().err
    assert list(tmp_path.iterdir()) == [path]
