"""End of study and everything that follows objects: one `StudyEvents` per
server ties the shared `Placement` state to the commands (-xcr, -xcs), the
-rns renaming, the -tos timer and the Python callbacks.

Order for each C-STORE (as storescp): the response is sent, then -xcr runs,
then -- if this object started another study -- the previous study ends:
-rns renames its files, -xcs runs, ``on_study_complete`` is called.  A study
also ends after -tos seconds without objects (in the timer thread) and on a
clean shutdown (fastscp; storescp loses it).
"""
from __future__ import annotations

import logging
import os
from dataclasses import dataclass
from typing import Callable, Optional

from fastscp.events import (
    CommandRunner, CompletedStudy, StudyTimer, call_hook, rename_study_files, substitute,
)
from fastscp.placement import Placement, Study

log = logging.getLogger("fastscp")


@dataclass
class Hooks:
    """The embedding API's callbacks (all optional); see `fastscp.Server`."""
    on_stored: Optional[Callable] = None
    on_store_request: Optional[Callable] = None
    on_study_complete: Optional[Callable] = None
    on_association_accepted: Optional[Callable] = None
    on_association_released: Optional[Callable] = None
    on_association_aborted: Optional[Callable] = None


class StudyEvents:
    def __init__(self, config, hooks: Hooks) -> None:
        self.config = config
        self.hooks = hooks
        self.placement = Placement(config)
        self.exec_on_reception: Optional[str] = getattr(config, "exec_on_reception", None)
        self.exec_on_eostudy: Optional[str] = getattr(config, "exec_on_eostudy", None)
        self.rename: bool = bool(getattr(config, "rename_on_eostudy", False))
        self.runner = CommandRunner(bool(getattr(config, "exec_sync", False)))
        #: study state is kept with a sort option or an on_study_complete hook
        self.tracking = (self.placement.sort_mode is not None
                         or hooks.on_study_complete is not None)
        timeout = getattr(config, "eostudy_timeout", None)
        self.timer: Optional[StudyTimer] = (
            StudyTimer(float(timeout), self._timed_out)
            if timeout is not None and self.tracking else None)
        self._closed = False

    # -- per object ----------------------------------------------------------------
    def begin(self) -> None:
        if self.timer is not None:
            self.timer.begin()

    def end(self, stored: bool) -> None:
        if self.timer is not None:
            self.timer.end(stored)

    def after_response(self, directory: Optional[str], name: Optional[str], info,
                       ended: Optional[Study]) -> Optional[Callable[[], None]]:
        """What runs once the C-STORE response is on its way (or None)."""
        if self.exec_on_reception is None and ended is None:
            return None

        def run() -> None:
            if self.exec_on_reception is not None:
                self.runner.run(substitute(self.exec_on_reception, path=directory, filename=name,
                                           info=info, warn=True))
            if ended is not None:
                self.end_study(ended, "next-study", info)
        return run

    # -- end of study -----------------------------------------------------------------
    def end_study(self, study: Study, reason: str, info) -> None:
        renamed = {}
        if self.rename:
            own = [n for d, n in study.files if d == study.directory]
            renamed = rename_study_files(study.directory, own, self.placement.timenames)
        files = []
        for d, n in study.files:
            if d == study.directory and n in renamed:
                files.append(os.path.join(d, renamed[n]))
            elif not self.rename or d != study.directory:
                files.append(os.path.join(d, n))
        if self.exec_on_eostudy is not None:
            self.runner.run(substitute(self.exec_on_eostudy, path=study.directory, filename=None,
                                       info=info, warn=False))
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
        with self.placement.lock:
            study = self.placement.end_current()
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
        if self.tracking:
            with self.placement.lock:
                study = self.placement.end_current()
            if study is not None:
                log.debug("end of study (shutdown): %s", study.directory)
                try:
                    self.end_study(study, "shutdown", study.last_info)
                except Exception:
                    log.exception("end-of-study processing failed at shutdown")
        self.runner.close()
