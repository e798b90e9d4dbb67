"""End of study: one `StudyEvents` per server follows the objects the
storage places (it subscribes to the storage's study tracking) and runs what
storescp runs when a study is complete -- the -rns renaming, the -xcs
command, the ``on_study_complete`` callback -- and, per C-STORE, -xcr.

Order for each C-STORE (as storescp): the response is sent, then -xcr runs,
then -- if this object started another study -- the previous study ends:
-rns renames its files, -xcs runs, ``on_study_complete`` is called.  A study
also ends after -tos seconds without objects (`StudyTimer`, in its thread)
and on a clean shutdown (fastscp; storescp loses it).
"""
from __future__ import annotations

import logging
import os
import threading
import time
from typing import Callable, Dict, List, Optional

from fastscp._counters import Counters
from fastscp.commands import CommandRunner, substitute
from fastscp.config import ServerConfig
from fastscp.placement import Study
from fastscp.records import AssociationInfo, CompletedStudy, Hooks, call_hook
from fastscp.stats import STUDY_END_COLUMNS
from fastscp.storage import Storage
from fastscp.log import APP_LOGGER

log = logging.getLogger(APP_LOGGER)


class StudyEvents:
    def __init__(self, config: ServerConfig, hooks: Hooks, storage: Storage,
                 counters: Counters) -> None:
        self.hooks = hooks
        self.counters = counters
        self.storage = storage
        self.exec_on_reception = config.exec_on_reception
        self.exec_on_eostudy = config.exec_on_eostudy
        self.rename = config.rename_on_eostudy
        self.timenames = config.timenames
        self.runner = CommandRunner(config.exec_sync, counters)
        if hooks.on_study_complete is not None:
            # without a sort option the storage tracks studies only for us
            storage.track_studies()
        timeout = config.eostudy_timeout
        self.timer: Optional[StudyTimer] = (
            StudyTimer(float(timeout), self._timed_out)
            if timeout is not None and storage.tracking else None)
        self._closed = False

    # -- per object ----------------------------------------------------------------
    def begin(self) -> None:
        if self.timer is not None:
            self.timer.begin()

    def end(self, stored: bool) -> None:
        if self.timer is not None:
            self.timer.end(stored)

    def after_response(self, directory: Optional[str], name: Optional[str],
                       info: AssociationInfo, ended: Optional[Study]) -> Optional[Callable[[], None]]:
        """What runs once the C-STORE response is on its way (or None):
        -xcr, and the end of the study this object's placement ended."""
        if self.exec_on_reception is None and ended is None:
            return None

        def run() -> None:
            if self.exec_on_reception is not None:
                self.runner.run(substitute(self.exec_on_reception, path=directory, filename=name,
                                           info=info, warn=True), "xcr")
            if ended is not None:
                self.end_study(ended, "next-study", info)
        return run

    # -- end of study -----------------------------------------------------------------
    def end_study(self, study: Study, reason: str, info: Optional[AssociationInfo]) -> None:
        self.counters.add(STUDY_END_COLUMNS[reason])
        renamed: Dict[str, str] = {}
        if self.rename:
            own = [n for d, n in study.files if d == study.directory]
            renamed = rename_study_files(study.directory, own, self.timenames)
        files = []
        for d, n in study.files:
            if d == study.directory and n in renamed:
                files.append(os.path.join(d, renamed[n]))
            elif not self.rename or d != study.directory:
                files.append(os.path.join(d, n))
        if self.exec_on_eostudy is not None:
            self.runner.run(substitute(self.exec_on_eostudy, path=study.directory, filename=None,
                                       info=info, warn=False), "xcs")
        if self.hooks.on_study_complete is not None:
            seen = set()
            unique = []
            for f in files:        # a file stored twice under one name is listed once
                if f not in seen and os.path.exists(f):
                    seen.add(f)
                    unique.append(f)
            call_hook(self.hooks.on_study_complete,
                      CompletedStudy(study.uid, study.directory, tuple(unique), reason, info),
                      "on_study_complete")

    def _timed_out(self) -> None:
        study = self.storage.end_current_study()
        if study is not None:
            log.debug("end of study (timeout): %s", study.directory)
            self.end_study(study, "timeout", study.last_info)

    def close(self) -> None:
        """Clean shutdown: the pending study ends now (its -rns/-xcs run)."""
        if self._closed:
            return
        self._closed = True
        if self.timer is not None:
            self.timer.stop()
        study = self.storage.end_current_study()
        if study is not None:
            log.debug("end of study (shutdown): %s", study.directory)
            try:
                self.end_study(study, "shutdown", study.last_info)
            except Exception:
                log.exception("end-of-study processing failed at shutdown")
        self.runner.close()


def rename_study_files(directory: str, names: List[str], timenames: bool) -> Dict[str, str]:
    """-rns: rename the study's files to <2-char prefix><6-digit number> in
    reception order (storescp: POSIX rename, a failure only warns and the
    number is used up).  Returns {old name: new name} of the renamed ones."""
    renamed: Dict[str, str] = {}
    for counter, name in enumerate(names, start=1):
        kind = name.split(".", 1)[1] if timenames and "." in name else name
        new = "%s%06d" % (kind[:2], counter)
        old_path = os.path.join(directory, name)
        new_path = os.path.join(directory, new)
        try:
            os.rename(old_path, new_path)
        except OSError:
            log.warning("cannot rename file '%s' to '%s'", old_path, new_path)
            continue
        renamed[name] = new
    return renamed



class StudyTimer:
    """-tos: ends the current study after `timeout` seconds without objects
    (no C-STORE in progress and none completed or begun meanwhile)."""

    def __init__(self, timeout: float, on_expire: Callable[[], None]) -> None:
        self.timeout = timeout
        self._on_expire = on_expire
        self._cond = threading.Condition()
        self._in_progress = 0
        self._last = time.monotonic()
        self._armed = False
        self._stopped = False
        self._thread = threading.Thread(target=self._run, name="fastscp-eostudy", daemon=True)
        self._thread.start()

    def begin(self) -> None:
        with self._cond:
            self._in_progress += 1
            self._last = time.monotonic()

    def end(self, stored: bool) -> None:
        with self._cond:
            self._in_progress -= 1
            self._last = time.monotonic()
            if stored:
                self._armed = True
            self._cond.notify()

    def _run(self) -> None:
        with self._cond:
            while not self._stopped:
                if not self._armed:
                    self._cond.wait()
                    continue
                remaining = self._last + self.timeout - time.monotonic()
                if self._in_progress > 0 or remaining > 0:
                    self._cond.wait(max(remaining, 0.05) if self._in_progress == 0 else None)
                    continue
                self._armed = False
                self._cond.release()
                try:
                    self._on_expire()
                except Exception:
                    log.exception("end-of-study processing failed")
                finally:
                    self._cond.acquire()

    def stop(self) -> None:
        with self._cond:
            self._stopped = True
            self._cond.notify()
        self._thread.join(timeout=5)
