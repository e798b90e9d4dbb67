#!/usr/bin/env python3
"""Throughput / CPU / memory benchmark: fastscp vs DCMTK storescp vs pynetdicom.

One command runs every server on every workload and prints a markdown table
(also written to ``benchmarks/results/latest.md``)::

    python benchmarks/run.py [--quick] [--only WORKLOAD] [--servers a,b] [--repeat N]

See ``benchmarks/README.md`` for what is measured and how.
"""

from __future__ import annotations

import argparse
import os
import platform
import shlex
import shutil
import signal
import socket
import subprocess
import sys
import threading
import time
from dataclasses import dataclass, field
from pathlib import Path
from typing import Callable, Dict, List, Optional, Sequence, Tuple

import rawdata
from rawdata import RunResult, fmt, run_line, summarize

HERE = Path(__file__).resolve().parent
REPO = HERE.parent
DEFAULT_WORKDIR = Path(os.environ.get("FASTSCP_BENCH_DIR", "/tmp/fastscp-bench"))

DCMTK_STORESCP = "/usr/bin/storescp"
DCMTK_STORESCU = "/usr/bin/storescu"

CLK_TCK = os.sysconf("SC_CLK_TCK")

# --------------------------------------------------------------------------
# Workload generation (pydicom, cached)
# --------------------------------------------------------------------------

CT_IMAGE_STORAGE = "1.2.840.10008.5.1.4.1.1.2"
SC_IMAGE_STORAGE = "1.2.840.10008.5.1.4.1.1.7"
MF_GRAY_WORD_SC_STORAGE = "1.2.840.10008.5.1.4.1.1.7.3"
EXPLICIT_VR_LE = "1.2.840.10008.1.2.1"
UID_ROOT = "1.2.826.0.1.3680043.8.498."  # pydicom's UID root


@dataclass
class Workload:
    key: str
    title: str
    count: int            # number of files (= objects)
    generate: Callable[[Path, int, int], None]
    param: int            # generator parameter (frames for multiframe)
    senders: int = 1      # storescu processes sending at once, each a share of the files
    files_of: str = ""    # the workload whose generated files are sent (default: key)

    @property
    def source_key(self) -> str:
        return self.files_of or self.key


def _uid(*parts: int) -> str:
    from pydicom.uid import generate_uid

    return generate_uid(prefix=UID_ROOT, entropy_srcs=[str(p) for p in parts])


def _base_dataset(sop_class: str, sop_instance: str, study_uid: str, series_uid: str,
                  modality: str, series_number: int, instance_number: int):
    from pydicom.dataset import Dataset, FileMetaDataset

    meta = FileMetaDataset()
    meta.MediaStorageSOPClassUID = sop_class
    meta.MediaStorageSOPInstanceUID = sop_instance
    meta.TransferSyntaxUID = EXPLICIT_VR_LE
    meta.ImplementationClassUID = UID_ROOT + "9999"
    meta.ImplementationVersionName = "FASTSCP_BENCH"

    ds = Dataset()
    ds.file_meta = meta
    ds.SpecificCharacterSet = "ISO_IR 100"
    ds.ImageType = ["ORIGINAL", "PRIMARY", "AXIAL"]
    ds.InstanceCreationDate = "20240315"
    ds.InstanceCreationTime = "101530.000000"
    ds.SOPClassUID = sop_class
    ds.SOPInstanceUID = sop_instance
    ds.StudyDate = "20240315"
    ds.SeriesDate = "20240315"
    ds.AcquisitionDate = "20240315"
    ds.ContentDate = "20240315"
    ds.StudyTime = "101500.000000"
    ds.SeriesTime = "101512.000000"
    ds.AcquisitionTime = "101520.000000"
    ds.ContentTime = "101530.000000"
    ds.AccessionNumber = "ACC0012345"
    ds.Modality = modality
    ds.Manufacturer = "FASTSCP BENCH"
    ds.InstitutionName = "Benchmark General Hospital"
    ds.ReferringPhysicianName = "Doe^John"
    ds.StationName = "BENCH01"
    ds.StudyDescription = "CT CHEST ABDOMEN PELVIS W CONTRAST"
    ds.SeriesDescription = "AXIAL 1.0 SOFT TISSUE"
    ds.ManufacturerModelName = "Bench Model 1"
    ds.PatientName = "Bench^Patient^^^"
    ds.PatientID = "BENCH0001"
    ds.PatientBirthDate = "19700101"
    ds.PatientSex = "O"
    ds.PatientAge = "054Y"
    ds.StudyInstanceUID = study_uid
    ds.SeriesInstanceUID = series_uid
    ds.StudyID = "1"
    ds.SeriesNumber = series_number
    ds.InstanceNumber = instance_number
    return ds


def _save(ds, path: Path) -> None:
    tmp = path.with_suffix(".tmp")
    ds.save_as(str(tmp), enforce_file_format=True)
    tmp.rename(path)


def gen_ct(outdir: Path, count: int, _param: int) -> None:
    """*count* CT slices 512x512x16-bit, one study, one series."""
    import numpy as np

    study, series = _uid(1, 1), _uid(1, 2)
    frame_uid = _uid(1, 3)
    yy, xx = np.mgrid[-256:256, -256:256]
    body = (xx / 230.0) ** 2 + (yy / 180.0) ** 2 <= 1.0
    rng = np.random.default_rng(1234)
    for i in range(count):
        z = -300.0 + i * 1.0
        img = np.full((512, 512), -1000, dtype=np.int16)
        img[body] = 40
        # a moving "organ" so slices differ
        organ = ((xx - 40) / 60.0) ** 2 + ((yy - 20 + (i % 50)) / 45.0) ** 2 <= 1.0
        img[organ] = 180
        img = img + rng.integers(-20, 21, size=img.shape, dtype=np.int16)
        stored = (img + 1024).clip(0, 4095).astype(np.uint16)

        sop = _uid(1, 100, i)
        ds = _base_dataset(CT_IMAGE_STORAGE, sop, study, series, "CT", 2, i + 1)
        ds.ScanOptions = "HELICAL MODE"
        ds.SliceThickness = "1.0"
        ds.KVP = "120"
        ds.DataCollectionDiameter = "500.0"
        ds.SoftwareVersions = "1.0"
        ds.ReconstructionDiameter = "460.0"
        ds.DistanceSourceToDetector = "1085.6"
        ds.DistanceSourceToPatient = "595.0"
        ds.GantryDetectorTilt = "0.0"
        ds.TableHeight = "160.0"
        ds.RotationDirection = "CW"
        ds.ExposureTime = "500"
        ds.XRayTubeCurrent = "250"
        ds.Exposure = "125"
        ds.FilterType = "BODY FILTER"
        ds.GeneratorPower = "30"
        ds.FocalSpots = "1.2"
        ds.ConvolutionKernel = "B30f"
        ds.PatientPosition = "FFS"
        ds.AcquisitionNumber = 1
        ds.ImagePositionPatient = ["-230.0", "-230.0", f"{z:.1f}"]
        ds.ImageOrientationPatient = ["1", "0", "0", "0", "1", "0"]
        ds.FrameOfReferenceUID = frame_uid
        ds.PositionReferenceIndicator = ""
        ds.SliceLocation = f"{z:.1f}"
        ds.SamplesPerPixel = 1
        ds.PhotometricInterpretation = "MONOCHROME2"
        ds.Rows = 512
        ds.Columns = 512
        ds.PixelSpacing = ["0.8984375", "0.8984375"]
        ds.BitsAllocated = 16
        ds.BitsStored = 12
        ds.HighBit = 11
        ds.PixelRepresentation = 0
        ds.WindowCenter = "40"
        ds.WindowWidth = "400"
        ds.RescaleIntercept = "-1024"
        ds.RescaleSlope = "1"
        ds.RescaleType = "HU"
        ds.PixelData = stored.tobytes()
        _save(ds, outdir / f"CT{i:05d}.dcm")


def gen_small(outdir: Path, count: int, _param: int) -> None:
    """*count* small secondary capture images (48x48 8-bit, ~3 KB each)."""
    import numpy as np

    study = _uid(2, 1)
    rng = np.random.default_rng(99)
    for i in range(count):
        series_no = i // 100 + 1
        series = _uid(2, 2, series_no)
        sop = _uid(2, 100, i)
        ds = _base_dataset(SC_IMAGE_STORAGE, sop, study, series, "OT", series_no, i + 1)
        ds.ImageType = ["DERIVED", "SECONDARY"]
        ds.ConversionType = "WSD"
        ds.SeriesDescription = "KEY IMAGES"
        ds.SamplesPerPixel = 1
        ds.PhotometricInterpretation = "MONOCHROME2"
        ds.Rows = 48
        ds.Columns = 48
        ds.BitsAllocated = 8
        ds.BitsStored = 8
        ds.HighBit = 7
        ds.PixelRepresentation = 0
        ds.PixelData = rng.integers(0, 256, size=(48, 48), dtype=np.uint8).tobytes()
        _save(ds, outdir / f"SC{i:05d}.dcm")


def gen_multiframe(outdir: Path, count: int, frames: int) -> None:
    """One multi-frame grayscale word SC object: *frames* x 512x512x16-bit."""
    import numpy as np

    assert count == 1
    study, series = _uid(3, 1), _uid(3, 2)
    sop = _uid(3, 100, frames)
    ds = _base_dataset(MF_GRAY_WORD_SC_STORAGE, sop, study, series, "OT", 3, 1)
    ds.ImageType = ["DERIVED", "SECONDARY"]
    ds.ConversionType = "WSD"
    ds.SeriesDescription = "MULTIFRAME VOLUME"
    ds.SamplesPerPixel = 1
    ds.PhotometricInterpretation = "MONOCHROME2"
    ds.NumberOfFrames = frames
    ds.FrameIncrementPointer = 0x00181063  # Frame Time
    ds.FrameTime = "33.3"
    ds.Rows = 512
    ds.Columns = 512
    ds.BitsAllocated = 16
    ds.BitsStored = 12
    ds.HighBit = 11
    ds.PixelRepresentation = 0
    ds.RescaleIntercept = "0"
    ds.RescaleSlope = "1"
    rng = np.random.default_rng(7)
    base = rng.integers(0, 4096, size=(512, 512), dtype=np.uint16)
    pix = np.empty((frames, 512, 512), dtype=np.uint16)
    for f in range(frames):
        pix[f] = np.roll(base, f, axis=1)
    ds.PixelData = pix.tobytes()
    del pix
    _save(ds, outdir / "MF00001.dcm")


#: storescu processes of the many-senders workloads
SENDERS = 8


def workloads(quick: bool) -> Dict[str, Workload]:
    if quick:
        ct, small, frames = 40, 200, 80          # 80 frames = ~40 MB
    else:
        ct, small, frames = 400, 2000, 800       # 800 frames = ~400 MB
    mb = frames * 512 * 512 * 2 / 1e6
    return {
        "ct": Workload("ct", f"{ct} CT 512x512x16", ct, gen_ct, 0),
        "small": Workload("small", f"{small} small SC (~3 KB)", small, gen_small, 0),
        "ct-8": Workload("ct-8", f"{ct} CT 512x512x16, {SENDERS} senders at once", ct, gen_ct, 0,
                         SENDERS, "ct"),
        "small-8": Workload("small-8", f"{small} small SC (~3 KB), {SENDERS} senders at once",
                            small, gen_small, 0, SENDERS, "small"),
        "multiframe": Workload("multiframe", f"1 multiframe {frames} fr ({mb:.0f} MB)",
                               1, gen_multiframe, frames),
    }


def ensure_workload(w: Workload, cache: Path) -> Path:
    d = cache / f"{w.source_key}-{w.count}-{w.param}"
    stamp = cache / f"{d.name}.complete"  # outside d: storescu sends all of d
    if stamp.exists():
        return d
    if d.exists():
        shutil.rmtree(d)
    stale = d / ".complete"  # older layout
    if stale.exists():
        stale.unlink()
    d.mkdir(parents=True)
    t0 = time.monotonic()
    print(f"# generating workload {w.key} into {d} ...", flush=True)
    w.generate(d, w.count, w.param)
    stamp.write_text("ok\n")
    print(f"#   done in {time.monotonic() - t0:.1f} s", flush=True)
    return d


def input_files(d: Path) -> List[Path]:
    return sorted(p for p in d.iterdir() if p.is_file() and p.suffix == ".dcm")


def warm_cache(files: List[Path]) -> None:
    """Read the inputs once so every server sees them in the page cache."""
    for p in files:
        with open(p, "rb") as f:
            while f.read(1 << 22):
                pass


# --------------------------------------------------------------------------
# Servers
# --------------------------------------------------------------------------


def tls_options(directory: Path) -> Tuple[List[str], List[str]]:
    """(server options, client options) for --tls, with keys and certificates
    made by the tests' maker (openssl CLI) in `directory`."""
    sys.path.insert(0, str(REPO / "tests"))
    from tlscerts import Certificates
    c = Certificates(directory)
    return (["+tls", c.server_key, c.server, "+cf", c.ca],
            ["+tls", c.client_key, c.client, "+cf", c.ca])


@dataclass
class Server:
    key: str
    label: str
    argv: Callable[[Path, int, Sequence[str]], List[str]]   # (output dir, port, output options)
    env: Dict[str, str] = field(default_factory=dict)
    preflight: Optional[Callable[[], Optional[str]]] = None  # -> error text


def build_fastscp(workdir: Path):
    """Build the working tree's Cython extensions in a scratch copy (never in
    the repository, never installed) and return the ``src`` dir to use."""
    build = workdir / "build"
    if build.exists():
        shutil.rmtree(build)
    build.mkdir(parents=True)
    for name in ("setup.py", "pyproject.toml"):
        if (REPO / name).exists():
            shutil.copy2(REPO / name, build / name)
    shutil.copytree(REPO / "src", build / "src",
                    ignore=shutil.ignore_patterns("*.so", "*.c", "__pycache__", "*.egg-info"))
    print(f"# building fastscp extensions in {build} ...", flush=True)
    r = subprocess.run([sys.executable, "setup.py", "-q", "build_ext", "--inplace"],
                       cwd=str(build), stdout=subprocess.PIPE, stderr=subprocess.STDOUT,
                       text=True)
    if r.returncode != 0:
        print("# fastscp build FAILED:\n" + r.stdout[-3000:], flush=True)
        last = (r.stdout.strip().splitlines() or ["?"])[-1]
        return str(build / "src"), f"build failed: {last}"
    return str(build / "src"), None


def make_servers(args) -> Dict[str, Server]:
    py = sys.executable
    fastscp_src = str(REPO / "src")
    build_error: Optional[str] = None

    if args.build_fastscp and not args.fastscp_cmd:
        fastscp_src, build_error = build_fastscp(args.workdir)
    if args.fastscp_cmd:
        fast_argv = lambda od, port, opts=(): [*shlex.split(args.fastscp_cmd), *opts, "-od", str(od), str(port)]  # noqa: E731
        fast_env: Dict[str, str] = {}
    else:
        fast_argv = lambda od, port, opts=(): [py, "-m", "fastscp", *opts, "-od", str(od), str(port)]  # noqa: E731
        pp = os.environ.get("PYTHONPATH")
        fast_env = {"PYTHONPATH": fastscp_src + (os.pathsep + pp if pp else "")}

    def fast_preflight() -> Optional[str]:
        if args.fastscp_cmd:
            return None
        if build_error:
            return f"fastscp {build_error}"
        env = dict(os.environ, **fast_env)
        r = subprocess.run(
            [py, "-c", "import fastscp.__main__"], env=env,
            stdout=subprocess.PIPE, stderr=subprocess.STDOUT, text=True, timeout=60,
        )
        if r.returncode != 0:
            last = (r.stdout.strip().splitlines() or ["?"])[-1]
            return f"fastscp not importable/runnable: {last}"
        return None

    def dcmtk_preflight() -> Optional[str]:
        return None if os.access(DCMTK_STORESCP, os.X_OK) else f"{DCMTK_STORESCP} missing"

    def pnd_preflight() -> Optional[str]:
        r = subprocess.run([py, "-c", "import pynetdicom"], stdout=subprocess.PIPE,
                           stderr=subprocess.STDOUT, text=True)
        return None if r.returncode == 0 else "pynetdicom not installed"

    return {
        "dcmtk": Server(
            "dcmtk", "DCMTK storescp",
            lambda od, port, opts=(): [DCMTK_STORESCP, *opts, "-od", str(od), str(port)],
            {"TCP_NODELAY": "1"}, dcmtk_preflight,
        ),
        "pynetdicom": Server(
            "pynetdicom", "pynetdicom storescp",
            lambda od, port, opts=(): [py, "-m", "pynetdicom", "storescp", str(port), "-od", str(od)],
            {}, pnd_preflight,
        ),
        "dcmtk-fork": Server(
            "dcmtk-fork", "DCMTK storescp --fork",
            lambda od, port, opts=(): [DCMTK_STORESCP, "--fork", *opts, "-od", str(od), str(port)],
            {"TCP_NODELAY": "1"}, dcmtk_preflight,
        ),
        "fastscp": Server("fastscp", "fastscp", fast_argv, fast_env, fast_preflight),
    }


#: the DCMTK server each workload is compared with: storescp serves one
#: association at a time, so many senders go to `storescp --fork`
def reference_server(w: Workload) -> str:
    return "dcmtk-fork" if w.senders > 1 else "dcmtk"


def takes_part(server_key: str, w: Workload) -> bool:
    if server_key.startswith("dcmtk"):
        return server_key == reference_server(w)
    return True


# --------------------------------------------------------------------------
# /proc helpers
# --------------------------------------------------------------------------


def _read_stat(pid: int):
    with open(f"/proc/{pid}/stat") as f:
        data = f.read()
    rest = data[data.rindex(")") + 2:].split()
    # rest[0] is field 3 (state); utime=14, stime=15, cutime=16, cstime=17
    ppid = int(rest[1])
    user = int(rest[11]) + int(rest[13])
    system = int(rest[12]) + int(rest[14])
    return ppid, user, system


def _descendants(root: int) -> List[int]:
    children: Dict[int, List[int]] = {}
    for name in os.listdir("/proc"):
        if not name.isdigit():
            continue
        try:
            ppid = _read_stat(int(name))[0]
        except (OSError, ValueError, IndexError):
            continue
        children.setdefault(ppid, []).append(int(name))
    out, todo = [], [root]
    while todo:
        p = todo.pop()
        for c in children.get(p, ()):
            out.append(c)
            todo.append(c)
    return out


def tree_cpu_seconds(pid: int) -> Tuple[float, float]:
    """(user, sys) of *pid*, its live descendants, and its reaped children."""
    user = system = 0
    for p in [pid] + _descendants(pid):
        try:
            _, u, s = _read_stat(p)
        except (OSError, ValueError, IndexError):
            continue
        user += u
        system += s
    return user / CLK_TCK, system / CLK_TCK


def _tree_kb(pid: int, proc_file: str, key: str) -> int:
    """Sum of one "key: N kB" line of /proc/PID/proc_file over *pid* and
    its live descendants."""
    total_kb = 0
    for p in [pid] + _descendants(pid):
        try:
            with open(f"/proc/{p}/{proc_file}") as f:
                for line in f:
                    if line.startswith(key):
                        total_kb += int(line.split()[1])
                        break
        except OSError:
            pass
    return total_kb


def tree_hwm_mb(pid: int) -> float:
    """Sum of VmHWM over *pid* and its live descendants, in MB (1e6 bytes)."""
    return _tree_kb(pid, "status", "VmHWM:") * 1024 / 1e6


def tree_pss_mb(pid: int) -> float:
    """Sum of the proportional set size over *pid* and its live descendants,
    in MB: each page the processes share is split between them, so forked
    workers' common pages are counted once (VmHWM counts them in each)."""
    return _tree_kb(pid, "smaps_rollup", "Pss:") * 1024 / 1e6


class PssSampler:
    """The largest `tree_pss_mb` of a server seen during a transfer, read
    every PERIOD seconds by a thread of the benchmark (the kernel keeps no
    peak of PSS as it does of RSS)."""

    PERIOD = 0.1

    def __init__(self, pid: int) -> None:
        self.pid = pid
        self.peak = 0.0
        self._stop = threading.Event()
        self._thread = threading.Thread(target=self._run, daemon=True)

    def _run(self) -> None:
        while True:
            self.sample()
            if self._stop.wait(self.PERIOD):
                return

    def sample(self) -> None:
        self.peak = max(self.peak, tree_pss_mb(self.pid))

    def __enter__(self) -> "PssSampler":
        self._thread.start()
        return self

    def __exit__(self, *exc: object) -> None:
        self._stop.set()
        self._thread.join()
        self.sample()


#: the server counts as started once its CPU time stayed the same this long
IDLE_SPELL = 0.3
#: ... but is measured anyway after this long
IDLE_WAIT_MAX = 10.0


def wait_until_idle(pid: int) -> None:
    """Wait until the server has finished starting up: its CPU time did not
    grow for IDLE_SPELL seconds (bounded by IDLE_WAIT_MAX).  A server may
    listen before its start-up is over (fastscp and storescp bind the port
    before they read TLS keys); that CPU and wall time is not the transfer's."""
    deadline = time.monotonic() + IDLE_WAIT_MAX
    last = tree_cpu_seconds(pid)
    while time.monotonic() < deadline:
        time.sleep(IDLE_SPELL)
        now = tree_cpu_seconds(pid)
        if now == last:
            return
        last = now


def is_listening(port: int) -> bool:
    """True if some socket is in LISTEN state on *port* (checked in /proc so
    that no probe association is opened)."""
    hexport = f"{port:04X}"
    for path in ("/proc/net/tcp", "/proc/net/tcp6"):
        try:
            with open(path) as f:
                next(f)
                for line in f:
                    parts = line.split()
                    if parts[1].rsplit(":", 1)[1] == hexport and parts[3] == "0A":
                        return True
        except OSError:
            continue
    return False


def free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


def count_output(d: Path, check_preamble: bool = False):
    """(files, bytes, files without the DICM preamble) under *d*."""
    n, size, bad = 0, 0, 0
    for root, _dirs, files in os.walk(d):
        for name in files:
            n += 1
            path = os.path.join(root, name)
            try:
                size += os.path.getsize(path)
                if check_preamble:
                    with open(path, "rb") as f:
                        head = f.read(132)
                    if head[128:132] != b"DICM":
                        bad += 1
            except OSError:
                bad += 1
    return n, size, bad


# --------------------------------------------------------------------------
# One run
# --------------------------------------------------------------------------


def stop_process(proc: subprocess.Popen) -> None:
    """Terminate the server we started (its own process group), then kill."""
    if proc.poll() is not None:
        return
    try:
        os.killpg(proc.pid, signal.SIGTERM)
    except ProcessLookupError:
        return
    try:
        proc.wait(5)
    except subprocess.TimeoutExpired:
        try:
            os.killpg(proc.pid, signal.SIGKILL)
        except ProcessLookupError:
            pass
        proc.wait(5)


class OutputArea:
    """Where servers write, and how their output is disposed of.

    On ext4 (and similar) the inode allocator skips inodes freed in the last
    ~30 s (``recently_deleted()`` in ``find_inode_bit``), scanning past them
    one by one; deleting a run's 2000 files right before the next run made
    every ``open(O_CREAT)`` cost ~0.6 ms of kernel time in the *next* server,
    growing from run to run.  So outputs are only moved aside during the
    benchmark and deleted at the end, and a new invocation waits until 35 s
    after the previous one's deletion.  On tmpfs there is no such effect and
    output is deleted right away.
    """

    SETTLE_S = 35.0

    def __init__(self, root: Path, workdir: Path):
        self.root = root
        self.root.mkdir(parents=True, exist_ok=True)
        self.fstype = _fstype(root)
        self.immediate = self.fstype == "tmpfs"
        self.trash = root / ".trash"
        self.stamp = workdir / "last-output-deletion"
        self._n = 0

    def settle(self, wait: bool = True) -> None:
        """Delete leftovers of an earlier invocation; wait for ext4 to forget
        recently deleted inodes."""
        if self.trash.exists() or any(p.is_dir() for p in self.root.iterdir()):
            for p in self.root.iterdir():
                if p.is_dir():
                    shutil.rmtree(p, ignore_errors=True)
            self._mark_deleted()
        if not wait or self.immediate or not self.stamp.exists():
            return
        try:
            age = time.time() - float(self.stamp.read_text())
        except (OSError, ValueError):
            return
        if 0 <= age < self.SETTLE_S:
            wait = self.SETTLE_S - age
            print(f"# waiting {wait:.0f} s: outputs were deleted {age:.0f} s ago "
                  f"(ext4 recently-deleted inode penalty)", flush=True)
            time.sleep(wait)

    def fresh(self, name: str) -> Path:
        out = self.root / name
        if out.exists():
            self.dispose(out)
        out.mkdir(parents=True)
        return out

    def dispose(self, out: Path) -> None:
        if not out.exists():
            return
        if self.immediate:
            shutil.rmtree(out, ignore_errors=True)
            return
        self.trash.mkdir(exist_ok=True)
        self._n += 1
        kept = self.trash / f"{self._n:05d}-{out.name}"
        out.rename(kept)
        # Keep the page cache from growing run after run: write the kept
        # files back and drop their pages, so the next run reuses the same
        # memory.  (On this VM, page cache growing into memory it had not
        # touched before doubled the servers' sys time after ~2.5 GB.)
        os.sync()
        for root, _dirs, names in os.walk(kept):
            for name in names:
                try:
                    fd = os.open(os.path.join(root, name), os.O_RDONLY)
                except OSError:
                    continue
                try:
                    os.posix_fadvise(fd, 0, 0, os.POSIX_FADV_DONTNEED)
                finally:
                    os.close(fd)

    def cleanup(self) -> None:
        if self.trash.exists():
            shutil.rmtree(self.trash, ignore_errors=True)
            self._mark_deleted()

    def _mark_deleted(self) -> None:
        try:
            self.stamp.write_text(f"{time.time():.3f}\n")
        except OSError:
            pass


def run_one(server: Server, w: Workload, src_dir: Path, files: List[Path], workdir: Path,
            timeout: float, log_tag: str, area: OutputArea, mode: Sequence[str] = (),
            client_opts: Sequence[str] = ()) -> RunResult:
    logs = workdir / "logs"
    logs.mkdir(parents=True, exist_ok=True)
    out = area.fresh(server.key)
    os.sync()

    port = free_port()
    env = dict(os.environ, **server.env)
    slog = open(logs / f"{log_tag}-server.log", "wb")
    clog = open(logs / f"{log_tag}-client.log", "wb")
    res = RunResult(ok=False, expected=len(files))
    proc = subprocess.Popen(server.argv(out, port, mode), env=env, stdout=slog,
                            stderr=subprocess.STDOUT, stdin=subprocess.DEVNULL,
                            cwd=str(workdir), start_new_session=True)
    try:
        deadline = time.monotonic() + 30
        while not is_listening(port):
            if proc.poll() is not None:
                res.error = f"server exited with {proc.returncode} before listening"
                return res
            if time.monotonic() > deadline:
                res.error = "server did not listen within 30 s"
                return res
            time.sleep(0.05)
        wait_until_idle(proc.pid)

        cpu0 = tree_cpu_seconds(proc.pid)
        client_env = dict(os.environ, TCP_NODELAY="1")
        base = [DCMTK_STORESCU, *client_opts, "-aec", "STORESCP", "127.0.0.1", str(port)]
        if w.senders == 1:
            commands = [base + ["+sd", str(src_dir)]]
        else:       # file i goes with sender i mod N: every sender gets a like share
            commands = [base + [str(p) for p in files[k::w.senders]] for k in range(w.senders)]
        t0 = time.perf_counter()
        clients = [subprocess.Popen(cmd, env=client_env, stdout=clog, stderr=subprocess.STDOUT,
                                    stdin=subprocess.DEVNULL) for cmd in commands]
        timed_out = threading.Event()

        def _expire() -> None:
            timed_out.set()
            for c in clients:
                c.kill()

        watchdog = threading.Timer(timeout, _expire)
        watchdog.start()
        rc, res.client_cpu = 0, 0.0
        try:
            with PssSampler(proc.pid) as pss:
                for client in clients:
                    _, status, usage = os.wait4(client.pid, 0)  # blocking; gives rusage
                    client.returncode = code = os.waitstatus_to_exitcode(status)
                    rc = rc or code
                    res.client_cpu += usage.ru_utime + usage.ru_stime
                # before the sampler's last reading and join: not the transfer's time
                res.wall = time.perf_counter() - t0
        finally:
            watchdog.cancel()
        res.pss_mb = pss.peak
        if timed_out.is_set():
            res.wall = float("nan")
            res.error = f"client timed out after {timeout:.0f} s"
            return res
        res.set_cpu(cpu0, tree_cpu_seconds(proc.pid))
        res.rss_mb = tree_hwm_mb(proc.pid)

        # All responses are in; files must already be there.  Allow a short
        # grace period for a server that finishes writing after responding;
        # its CPU time is then counted until the files are complete.
        grace = time.monotonic() + 5
        late = False
        while True:
            res.files, size, _ = count_output(out)
            if res.files >= res.expected or time.monotonic() > grace:
                break
            late = True
            time.sleep(0.1)
        if late:
            res.set_cpu(cpu0, tree_cpu_seconds(proc.pid))
            res.rss_mb = tree_hwm_mb(proc.pid)
            res.pss_mb = max(res.pss_mb, tree_pss_mb(proc.pid))
        _, _, no_preamble = count_output(out, check_preamble=True)
        res.out_mb = size / 1e6
        in_bytes = sum(p.stat().st_size for p in files)
        errs = []
        if rc != 0:
            errs.append(f"storescu exit {rc}")
        if proc.poll() is not None:
            errs.append(f"server died (exit {proc.returncode})")
        if res.files != res.expected:
            errs.append(f"{res.files}/{res.expected} files written")
        elif no_preamble:
            errs.append(f"{no_preamble} files without 'DICM' preamble")
        elif size < 0.9 * in_bytes and "+td" not in mode:   # deflated output may be smaller
            errs.append(f"only {size / 1e6:.1f} of {in_bytes / 1e6:.1f} MB written")
        res.ok = not errs
        if late:
            errs.append("files completed only after storescu exited "
                        "(CPU counted until then)")
        res.error = "; ".join(errs)
        return res
    finally:
        stop_process(proc)
        slog.close()
        clog.close()
        area.dispose(out)


# --------------------------------------------------------------------------
# Reporting
# --------------------------------------------------------------------------


def _ratio(a: float, b: float) -> str:
    if a != a or b != b or b <= 0:
        return "–"
    return f"{a / b:.2f}×"


def render(results, wls: Dict[str, Workload], servers: Dict[str, Server], meta: List[str]) -> str:
    lines = list(meta) + [""]
    lines.append("| workload | server | wall s | server CPU s | peak RSS MB | peak PSS MB | "
                 "wall ratio vs DCMTK¹ | CPU ratio vs DCMTK¹ | client CPU s | files | status |")
    lines.append("|---|---|---:|---:|---:|---:|---:|---:|---:|---:|---|")
    for wkey, per_server in results.items():
        ref = per_server.get(reference_server(wls[wkey]))
        for skey, r in per_server.items():
            ok_ref = ref is not None and ref.ok
            wr = _ratio(r.wall, ref.wall) if ok_ref and r.ok else "–"
            cr = _ratio(r.cpu, ref.cpu) if ok_ref and r.ok else "–"
            status = "ok" if r.ok else f"FAILED: {r.error}"
            if r.ok and r.error:
                status = f"ok (some runs failed: {r.error})"
            lines.append(
                f"| {wls[wkey].title} | {servers[skey].label} | {fmt(r.wall)} | "
                f"{fmt(r.cpu)} | {fmt(r.rss_mb, 1)} | {fmt(r.pss_mb, 1)} | {wr} | {cr} | {fmt(r.client_cpu)} | "
                f"{r.files}/{r.expected} | {status} |")
    lines.append("")
    lines.append("¹ storescp for one sender; `storescp --fork` for many senders at once")
    return "\n".join(lines) + "\n"


def _fstype(path: Path) -> str:
    try:
        r = subprocess.run(["findmnt", "-n", "-o", "FSTYPE", "-T", str(path)],
                           stdout=subprocess.PIPE, stderr=subprocess.DEVNULL, text=True)
        return (r.stdout.split() or ["?"])[0]
    except OSError:
        return "?"


def _version(cmd: List[str]) -> str:
    try:
        r = subprocess.run(cmd, stdout=subprocess.PIPE, stderr=subprocess.STDOUT, text=True,
                           timeout=30)
        return (r.stdout.strip().splitlines() or ["?"])[0]
    except Exception as exc:  # pragma: no cover - informational only
        return f"? ({exc})"


def write_charts(results: rawdata.Results, beside: Path, required: bool) -> bool:
    """Charts of *results* named after *beside*; without matplotlib say so
    (the tables are written all the same)."""
    try:
        from charts import write_charts as draw
        written = draw(results, beside.with_suffix(""))
    except ImportError as exc:
        print(f"# {'error' if required else 'note'}: no charts: {exc} "
              f"(pip install 'fastscp[bench]' for matplotlib)", flush=True,
              file=sys.stderr if required else sys.stdout)
        return False
    print(f"# charts written: {', '.join(str(p) for p in written)}")
    return True


# --------------------------------------------------------------------------
# main
# --------------------------------------------------------------------------


def main(argv: Optional[List[str]] = None) -> int:
    ap = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    ap.add_argument("--quick", action="store_true",
                    help="small workloads for smoke testing (40 CT, 200 small, 40 MB)")
    ap.add_argument("--only", action="append",
                    choices=["ct", "small", "multiframe", "ct-8", "small-8"],
                    metavar="WORKLOAD",
                    help="run only this workload (ct, small, multiframe; ct-8, small-8: "
                         f"{SENDERS} senders at once); repeatable")
    ap.add_argument("--servers", default="dcmtk,dcmtk-fork,pynetdicom,fastscp",
                    help="comma-separated subset of dcmtk,dcmtk-fork,pynetdicom,fastscp "
                         "(storescp serves the one-sender workloads, storescp --fork "
                         "the many-senders ones)")
    ap.add_argument("--warmup", type=int, default=1,
                    help="untimed warm-up runs per workload (with DCMTK, else the "
                         "first server), default 1")
    ap.add_argument("--repeat", type=int, default=None,
                    help="runs per (workload, server), default 5 (1 with --quick); "
                         "median wall/CPU, max peak RSS")
    ap.add_argument("--workdir", type=Path, default=DEFAULT_WORKDIR,
                    help=f"cache/output/log directory (default {DEFAULT_WORKDIR})")
    ap.add_argument("--out-root", type=Path, default=None,
                    help="where servers write (default WORKDIR/out); e.g. a tmpfs "
                         "such as /dev/shm/fastscp-bench to take the disk file system "
                         "out of the measurement")
    ap.add_argument("--timeout", type=float, default=900.0,
                    help="per-run client timeout in seconds")
    ap.add_argument("--fastscp-cmd", default=None,
                    help="command that starts fastscp (default: "
                         "'python -m fastscp' with PYTHONPATH=<repo>/src); "
                         "'-od DIR PORT' is appended")
    ap.add_argument("--build-fastscp", action="store_true",
                    help="build fastscp's Cython extensions from the working tree in "
                         "WORKDIR/build (a scratch copy) and benchmark that build")
    ap.add_argument("--mode", action="append", default=None, metavar="OPTIONS",
                    help="output options given to DCMTK storescp and fastscp alike (write --mode=-e for one that starts with '-'), e.g. "
                         "'+te', '+tb', '+ti', '+td', '-e' (one string, split on blanks; "
                         "'' = storescp's defaults); repeatable, each mode measured "
                         "separately; pynetdicom takes part in the default mode only")
    ap.add_argument("--tls", action="store_true",
                    help="DICOM over TLS: DCMTK storescp and fastscp get '+tls KEY CERT +cf CA' "
                         "(each its default profile), storescu '+tls KEY CERT +cf CA'; keys and "
                         "certificates are made in WORKDIR/tls; pynetdicom does not take part")
    ap.add_argument("--results", type=Path, default=HERE / "results" / "latest.md",
                    help="where to write the markdown table; the raw runs go to the "
                         "same name with .json, the charts to NAME.png|svg and "
                         "NAME-WORKLOAD.png|svg (with matplotlib)")
    ap.add_argument("--chart-from", type=Path, default=None, metavar="RESULTS",
                    help="measure nothing: write the charts of RESULTS (a .json written by "
                         "an earlier run, or a results .md with its 'Individual runs', "
                         "which are then also saved as .json) beside it")
    args = ap.parse_args(argv)
    if args.repeat is None:
        args.repeat = 1 if args.quick else 5
    if args.repeat < 1:
        ap.error("--repeat must be >= 1")

    if args.chart_from:
        earlier = rawdata.load(args.chart_from)
        if args.chart_from.suffix == ".md":     # results from before the JSON existed
            rawdata.save(earlier, args.chart_from.with_suffix(".json"))
            print(f"# raw runs written to {args.chart_from.with_suffix('.json')}")
        return 0 if write_charts(earlier, args.chart_from, required=True) else 2

    if not os.access(DCMTK_STORESCU, os.X_OK):
        print(f"error: {DCMTK_STORESCU} is required as the client", file=sys.stderr)
        return 2

    all_servers = make_servers(args)
    wanted = [s.strip() for s in args.servers.split(",") if s.strip()]
    bad = [s for s in wanted if s not in all_servers]
    if bad:
        ap.error(f"unknown server(s): {', '.join(bad)}")
    servers = {k: all_servers[k] for k in ("dcmtk", "dcmtk-fork", "pynetdicom", "fastscp")
               if k in wanted}

    wls_all = workloads(args.quick)
    wls = {k: v for k, v in wls_all.items() if not args.only or k in args.only}

    workdir: Path = args.workdir
    cache = workdir / "cache"
    cache.mkdir(parents=True, exist_ok=True)

    preflight_err: Dict[str, Optional[str]] = {}
    for k, s in servers.items():
        preflight_err[k] = s.preflight() if s.preflight else None
        if preflight_err[k]:
            print(f"# {s.label}: {preflight_err[k]} — reported as failed", flush=True)

    area = OutputArea(args.out_root or workdir / "out", workdir)
    area.settle(wait=not args.quick)  # smoke tests need no settled file system
    load_at_start = os.getloadavg()
    run_lines: List[str] = []
    # workload -> server -> its runs (one failed "run" if the server could not start)
    raw: Dict[str, Dict[str, List[RunResult]]] = {}
    modes = args.mode if args.mode is not None else [""]
    tls_server, tls_client = tls_options(workdir / "tls") if args.tls else ([], [])
    shown: Dict[str, Workload] = {}
    try:
        for mode_text in modes:
            mode = shlex.split(mode_text)
            server_opts = tls_server + mode
            for wkey0, w in wls.items():
                in_mode = {k: s for k, s in servers.items()
                           if (not (mode or args.tls) or k != "pynetdicom") and takes_part(k, w)}
                wkey = wkey0 if not mode else f"{wkey0} {mode_text}"
                shown[wkey] = Workload(w.key, w.title + (f", `{mode_text}`" if mode else "")
                                       + (", over TLS" if args.tls else ""),
                                       w.count, w.generate, w.param, w.senders, w.files_of)
                src = ensure_workload(w, cache)
                files = input_files(src)
                if len(files) != w.count:
                    print(f"error: {src} holds {len(files)} files, expected {w.count}; "
                          f"delete it to regenerate", file=sys.stderr)
                    return 2
                warm_cache(files)
                raw[wkey] = runs_by_server = {k: [] for k in in_mode}
                for skey in in_mode:
                    if preflight_err[skey]:
                        runs_by_server[skey].append(RunResult(ok=False, expected=w.count,
                                                              error=preflight_err[skey]))
                # Untimed warm-up run(s) (first-run effects: page cache, memory).
                warm_key = next((k for k in (reference_server(w), *in_mode) if k in in_mode
                                 and not preflight_err[k]), None)
                for i in range(args.warmup if warm_key else 0):
                    r = run_one(servers[warm_key], w, src, files, workdir, args.timeout,
                                f"{wkey0}{''.join(mode)}-warmup-{warm_key}-{i}", area,
                                server_opts, tls_client)
                    print(f"# {w.key:10s} warm-up with {warm_key}: wall {fmt(r.wall)} s"
                          + ("" if r.ok else f" (FAILED: {r.error})"), flush=True)
                # Repetitions are interleaved (A B C A B C ...) so that drift in
                # machine load affects every server alike.
                for i in range(args.repeat):
                    for skey, s in in_mode.items():
                        if preflight_err[skey]:
                            continue
                        tag = f"{wkey0}{''.join(mode)}-{skey}-{i}"
                        r = run_one(s, w, src, files, workdir, args.timeout, tag, area,
                                    server_opts, tls_client)
                        runs_by_server[skey].append(r)
                        state = "ok" if r.ok else f"FAILED ({r.error}; logs: {workdir/'logs'/tag}-*.log)"
                        line = run_line(wkey, s.key, i, args.repeat, r, state)
                        run_lines.append(line)
                        print("# " + line, flush=True)
    except KeyboardInterrupt:
        print("# interrupted; reporting what was measured", file=sys.stderr)
    finally:
        area.cleanup()
    results = {wkey: {skey: summarize(runs) for skey, runs in per.items() if runs}
               for wkey, per in raw.items()}

    if "fastscp" in servers:
        fastscp_desc = ("`" + " ".join(servers["fastscp"].argv(Path("DIR"), 0)[:-3]) + "`"
                        + (f" with {servers['fastscp'].env}" if servers["fastscp"].env else "")
                        + (f"; output modes {', '.join(repr(m) for m in modes)} given to DCMTK and fastscp"
                           if modes != [""] else "")
                        + f", tree {_version(['git', '-C', str(REPO), 'describe', '--always', '--dirty'])}")
    else:
        fastscp_desc = "not run"
    date = time.strftime('%Y-%m-%d %H:%M:%S %Z')
    machine = f"{platform.node()} {platform.machine()}, {os.cpu_count()} CPUs"
    meta = [
        f"# fastscp benchmark ({'quick' if args.quick else 'full'})",
        "",
        f"- date: {date}",
        f"- host: {machine}, "
        f"Python {platform.python_version()}, load average at start "
        f"{load_at_start[0]:.2f} / {load_at_start[1]:.2f} (1 / 5 min)",
        f"- client: {_version([DCMTK_STORESCU, '--version'])} "
        f"(TCP_NODELAY=1, default PDU size; one association `+sd DIR`, or {SENDERS} "
        f"processes at once with a like share of the files each"
        + (", `+tls KEY CERT +cf CA`: TLS 1.3, TLS_AES_256_GCM_SHA384 with either server, "
           "RSA 2048 certificates)" if args.tls else ")"),
        f"- DCMTK server: {_version([DCMTK_STORESCP, '--version'])} (TCP_NODELAY=1)",
        f"- pynetdicom: {_version([sys.executable, '-c', 'import pynetdicom; print(pynetdicom.__version__)'])}",
        f"- fastscp: {fastscp_desc}",
        f"- output written to: {area.root} ({area.fstype}; "
        + ("deleted after each run)" if area.immediate else
           "kept until the end of the benchmark, see README)"),
        f"- runs per cell: {args.repeat}, interleaved across servers, after "
        f"{args.warmup} untimed warm-up run(s) per workload (median wall/CPU, max peak "
        f"RSS/PSS); server restarted for every run",
        "- wall = storescu start → exit; CPU = user+sys of the server process tree "
        "during the transfer; peak RSS = VmHWM summed over the server's processes (whole "
        "lifetime; pages forked processes share are counted in each); peak PSS = largest sum "
        "of the processes' proportional set sizes, sampled every 0.1 s during the transfer "
        "(each shared page counted once: the memory the server holds)",
    ]
    table = render(results, shown, servers, meta)
    print()
    print(table)
    args.results.parent.mkdir(parents=True, exist_ok=True)
    args.results.write_text(table + "\n## Individual runs\n\n```\n"
                            + "\n".join(run_lines) + "\n```\n")
    print(f"# written to {args.results}")
    raw_results = rawdata.Results(
        date=date, machine=machine, file_system=area.fstype,
        labels={k: s.label for k, s in servers.items()}, header=meta,
        workloads=[rawdata.WorkloadRuns(wkey, shown[wkey].title, reference_server(shown[wkey]),
                                        {s: runs for s, runs in per.items() if runs})
                   for wkey, per in raw.items()])
    raw_path = args.results.with_suffix(".json")
    rawdata.save(raw_results, raw_path)
    print(f"# raw runs written to {raw_path}")
    write_charts(raw_results, args.results, required=False)
    all_ok = all(r.ok for per in results.values() for r in per.values())
    return 0 if all_ok else 1


if __name__ == "__main__":
    sys.exit(main())
