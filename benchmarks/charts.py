"""Charts of a benchmark's raw results (matplotlib, the ``bench`` extra).

For results ``DIR/NAME.json`` (or ``.md``) this writes, as PNG and SVG:

- ``DIR/NAME-<workload>.png|svg``: one figure per workload, three panels
  (wall time, server CPU, peak RSS), a bar per server;
- ``DIR/NAME.png|svg``: every workload in one figure, a row each.

A bar is the table's figure (median wall and CPU, worst peak RSS), the dots
are the individual runs and the whisker their range; each bar is labelled
with its value and its ratio to the workload's DCMTK server.
"""

from __future__ import annotations

import re
from pathlib import Path
from typing import Any, Dict, List, Sequence, Tuple

from rawdata import AGGREGATE, Results, WorkloadRuns

#: (field, axis label) of the three panels
METRICS: Sequence[Tuple[str, str]] = (
    ("wall", "wall time, s (median)"),
    ("cpu", "server CPU, s (median)"),
    ("rss_mb", "peak RSS, MB (worst run)"),
)

#: one colour per server in every chart; both DCMTK variants are the reference
COLOURS = {"dcmtk": "#4c72b0", "dcmtk-fork": "#4c72b0", "pynetdicom": "#8c8c8c",
           "fastscp": "#dd8452"}
OTHER_COLOUR = "#55a868"
CAPTION = ("bar: the table's figure (median of the runs; peak RSS: the worst run); "
           "dots: every run; whisker: their range; (n×): ratio to the workload's DCMTK server")
FORMATS = ("png", "svg")


def chart_paths(stem: Path, results: Results) -> List[Path]:
    """Every file ``write_charts(results, stem)`` writes."""
    names = [stem.name] + [f"{stem.name}-{file_key(w.key)}" for w in results.workloads]
    return [stem.with_name(f"{n}.{ext}") for n in names for ext in FORMATS]


def file_key(workload_key: str) -> str:
    """A workload key ("ct", "ct +te") as part of a file name."""
    return re.sub(r"[^A-Za-z0-9]+", "-", workload_key).strip("-") or "default"


def write_charts(results: Results, stem: Path) -> List[Path]:
    """Write the charts of *results* beside *stem* (a path without suffix);
    return the files written. Raises ImportError without matplotlib."""
    import matplotlib
    matplotlib.use("Agg")        # files only, no display
    import matplotlib.pyplot as plt

    where = f"{results.machine}, {results.file_system}, {results.date}"
    written: List[Path] = []
    # text stays text in the SVG (searchable, smaller); fixed ids: same input, same SVG
    with plt.rc_context({"svg.fonttype": "none", "svg.hashsalt": "fastscp-bench",
                         "font.size": 9}):
        figures = [(stem.name, results.workloads, f"fastscp benchmark — {where}")]
        figures += [(f"{stem.name}-{file_key(w.key)}", [w], f"{w.title}\n{where}")
                    for w in results.workloads]
        for name, workloads, title in figures:
            fig = _figure(plt, workloads, results.labels, title, per_row_titles=len(workloads) > 1)
            for ext in FORMATS:
                path = stem.with_name(f"{name}.{ext}")
                fig.savefig(path, dpi=110, metadata={"Date": None} if ext == "svg" else None)
                written.append(path)
            plt.close(fig)
    return written


def _figure(plt: Any, workloads: List[WorkloadRuns], labels: Dict[str, str], title: str,
            per_row_titles: bool) -> Any:
    n_servers = max(len(w.runs) for w in workloads)
    row_height = 0.55 + 0.42 * n_servers + (0.3 if per_row_titles else 0)
    height = 1.1 + row_height * len(workloads)
    fig, axes = plt.subplots(len(workloads), len(METRICS), squeeze=False, figsize=(12, height))
    fig.suptitle(title, fontsize=11)
    fig.text(0.01, 0.01, CAPTION, fontsize=8, color="#555555", va="bottom")
    for row, w in zip(axes, workloads):
        for column, (ax, (metric, axis_label)) in enumerate(zip(row, METRICS)):
            _panel(ax, w, metric, labels, show_names=column == 0)
            ax.set_xlabel(axis_label)
        if per_row_titles:
            row[0].set_title(w.title, loc="left", fontsize=10, fontweight="bold")
    fig.tight_layout(rect=(0, 0.25 / height, 1, 1))    # the caption's quarter inch
    return fig


def _panel(ax: Any, w: WorkloadRuns, metric: str, labels: Dict[str, str],
           show_names: bool) -> None:
    """Horizontal bars, one per server (top to bottom in table order)."""
    aggregate = AGGREGATE[metric]
    servers = list(w.runs)
    values: Dict[str, List[float]] = {
        s: [getattr(r, metric) for r in w.runs[s] if r.ok and getattr(r, metric) == getattr(r, metric)]
        for s in servers}
    figure = {s: aggregate(v) for s, v in values.items() if v}
    reference = figure.get(w.reference)
    top = max((max(v) for v in values.values() if v), default=1.0) or 1.0
    ys = range(len(servers) - 1, -1, -1)
    for y, s in zip(ys, servers):
        colour = COLOURS.get(s, OTHER_COLOUR)
        if s not in figure:
            ax.text(0, y, " failed", va="center", color="#c44e52")
            continue
        runs = values[s]
        ax.barh(y, figure[s], height=0.6, color=colour, alpha=0.85)
        ax.errorbar(figure[s], y, xerr=[[figure[s] - min(runs)], [max(runs) - figure[s]]],
                    fmt="none", ecolor="black", elinewidth=1, capsize=3)
        ax.plot(runs, [y] * len(runs), "o", markersize=3, color="black", alpha=0.6)
        text = f"{figure[s]:.1f}" if metric == "rss_mb" else f"{figure[s]:.2f}"
        if reference and s != w.reference:
            text += f"  ({figure[s] / reference:.2f}×)"
        ax.text(max(runs) + top * 0.02, y, text, va="center", fontsize=8)
    ax.set_yticks(list(ys))
    ax.set_yticklabels([labels.get(s, s) for s in servers] if show_names else [])
    ax.set_xlim(0, top * 1.45)     # room for the labels right of the bars
    ax.set_ylim(-0.6, len(servers) - 0.4)
    ax.grid(axis="x", alpha=0.3)
    ax.set_axisbelow(True)
