"""A step's files stored together with their materialization, or not at all.

A step over a range of months writes one file per month, and Dagster records the months'
materializations only after the last file is written. A step killed in between (SIGKILL, a lost
Celery worker, an evicted pod) would leave months whose files changed with nothing recording it. So
before replacing a file the store copies the previous one aside and writes a journal,
`<base>/.journal/<asset>/<run id>.json`, naming each file and its copy. The journal is settled the
next time any run reads or writes that asset, newest journal first:

- a month the journal's run materialized keeps its new file (the copy is deleted);
- a month materialized since by a later run keeps that run's file;
- a month whose run is over (failed, canceled, or its writing process gone from this host) without
  materializing it gets its previous file back, or loses the file it never had before;
- a run still going is left alone, and so is a run this instance does not know while its writer lives.

The same run's next attempt (a step retried after its worker was lost) keeps the copies its first
attempt made: they, not the first attempt's files, are what was stored before the run.

So the hidden `.journal` folder holds, per asset, at most the previous version of the files the last
run wrote, until the asset is next read or written (a later step of the same run reading it counts).
"""

from __future__ import annotations

import json
import os
import socket
import time
from dataclasses import dataclass
from typing import TYPE_CHECKING, Any

import dagster as dg

from ml_assets.files import is_local, put_bytes, staged_leftovers, write_atomically
from ml_assets.processes import process_alive

if TYPE_CHECKING:
    from upath import UPath

WHOLE_ASSET = ""  # the journal's key for an unpartitioned asset's files
HOST = socket.gethostname()
STALE_AFTER_S = 7 * 24 * 3600  # a journal of a run this instance never knew, from another host, after a week


def _copy(source: UPath, target: UPath) -> None:
    """A server-side copy on an object store (one atomic CopyObject); on a disk a temp file copied from the disk
    (not through memory: the file can be a big table's) and renamed."""
    if is_local(source):
        import shutil

        def copied(handle) -> None:
            with source.open("rb") as original:
                shutil.copyfileobj(original, handle, 1 << 20)

        write_atomically(target, copied)
    else:
        source.fs.copy(source.path, target.path)


def _writer_gone(entry: dict[str, Any]) -> bool:
    """The process that wrote the journal has ended (only knowable on this host)."""
    if entry.get("host") != HOST:
        return False
    if entry.get("pid") == os.getpid():
        return True  # an earlier run of this process: in-process steps run one after another
    try:
        return not process_alive(int(entry["pid"]))
    except (ValueError, KeyError):
        return False


@dataclass
class Journal:
    base: UPath
    asset: dg.AssetKey
    partitioned: bool
    run_id: str
    instance: dg.DagsterInstance | None

    @property
    def folder(self) -> UPath:
        return self.base / ".journal" / "__".join(self.asset.path)

    def _file(self, run_id: str) -> UPath:
        return self.folder / f"{run_id}.json"

    def _relative(self, path: UPath) -> str:
        return str(path)[len(str(self.base)) :].lstrip("/")

    def _read(self, file: UPath) -> dict[str, Any] | None:
        try:
            return json.loads(file.read_bytes())
        except FileNotFoundError:
            return None  # settled meanwhile by another run

    # -- writing ------------------------------------------------------------------------------------

    def begin(self, files: dict[str, list[UPath]]) -> None:
        """Before any of `files` (by month) is replaced: copy each existing one aside and record them all."""
        from ml_assets.storage.fencing import refuse_unless_running

        # a step of a run that has ended (its retry may be writing these files now) replaces nothing
        refuse_unless_running(self.instance, self.run_id, f"{self.asset.to_user_string()}'s files")
        own = self._file(self.run_id)
        entry = (self._read(own) if own.exists() else None) or {
            "run_id": self.run_id,
            "started": time.time(),
            "months": {},
        }
        entry.update(host=HOST, pid=os.getpid())  # this attempt's writer (a retry may run on another worker)
        for key, paths in files.items():
            if key in entry["months"]:
                continue  # the run's earlier attempt already kept what was stored before the run
            kept = []
            for path in paths:
                copy = None
                if path.exists():
                    copy = self.folder / self.run_id / self._relative(path).replace("/", "__")
                    copy.parent.mkdir(parents=True, exist_ok=True)
                    _copy(path, copy)
                kept.append([self._relative(path), self._relative(copy) if copy is not None else None])
            entry["months"][key] = kept
        self.folder.mkdir(parents=True, exist_ok=True)
        put_bytes(own, json.dumps(entry).encode())

    def roll_back_own(self) -> None:
        """This attempt failed while writing: every file of the run back as it was before the run."""
        entry = self._read(self._file(self.run_id))
        if entry:
            for files in entry["months"].values():
                self._restore(files)
            self._finish(self.run_id)

    # -- settling -----------------------------------------------------------------------------------

    def settle(self) -> list[str]:
        """Settle this asset's journals (see the module docstring); returns what was rolled back. Of this run's own
        journal only the months already materialized are settled (a later step of the run reading them)."""
        if self.instance is None or not self.folder.exists():
            return []
        entries = []
        for file in self.folder.iterdir():
            if file.name.endswith(".json"):
                entry = self._read(file)
                if entry:
                    entries.append(entry)
        rolled_back = []
        for entry in sorted(entries, key=lambda e: e["started"], reverse=True):
            rolled_back += self._settle(entry)
        return rolled_back

    def _settle(self, entry: dict[str, Any]) -> list[str]:
        run_id = entry["run_id"]
        run = self.instance.get_run_by_id(run_id)
        gone = _writer_gone(entry)
        over = (run is not None and run.is_finished) or gone
        unknown_and_done = run is None and (gone or time.time() - entry["started"] > STALE_AFTER_S)
        if run_id == self.run_id:  # this run's own journal: only what an earlier step of it has materialized
            over = unknown_and_done = False
        pending, rolled_back = {}, []
        for key, files in entry["months"].items():
            latest = self._latest_materialization(key)
            if latest is not None and (latest.run_id == run_id or latest.timestamp > entry["started"]):
                # stored with its materialization, or since replaced by a later run's
                self._drop_copies(files)
            elif unknown_and_done:
                self._drop_copies(files)  # another instance's run: nothing here says what it recorded
            elif over:
                self._restore(files)
                rolled_back.append(key or "the whole asset")
            else:
                pending[key] = files
                continue
            if (
                run_id != self.run_id
            ):  # what a killed writer staged and never stored (this run's may be in use)
                self._drop_staged(files, run_id)
        if pending:
            put_bytes(self._file(run_id), json.dumps({**entry, "months": pending}).encode())
        else:
            self._finish(run_id)
        return rolled_back

    def _latest_materialization(self, key: str):
        records = self.instance.fetch_materializations(
            dg.AssetRecordsFilter(asset_key=self.asset, asset_partitions=[key] if self.partitioned else None),
            limit=1,
        ).records
        return records[0] if records else None

    def _restore(self, files: list[list[str | None]]) -> None:
        for target, copy in files:
            path = self.base / target
            if copy is None:
                if path.exists():
                    path.unlink()
                continue
            saved = self.base / copy
            if not saved.exists():
                continue  # restored by an earlier settle that was stopped before finishing
            if is_local(saved):
                saved.rename(path)
            else:
                _copy(saved, path)
                saved.unlink()

    def _drop_staged(self, files: list[list[str | None]], run_id: str) -> None:
        for target, _ in files:
            for leftover in staged_leftovers(self.base / target, run_id):
                leftover.unlink(missing_ok=True)

    def _drop_copies(self, files: list[list[str | None]]) -> None:
        for _, copy in files:
            if copy is not None and (self.base / copy).exists():
                (self.base / copy).unlink()

    def _finish(self, run_id: str) -> None:
        """The journal goes last, so a settle stopped halfway is done again from the start."""
        copies = self.folder / run_id
        if copies.exists():
            for leftover in copies.iterdir():
                leftover.unlink()
            if is_local(copies):
                copies.rmdir()
        file = self._file(run_id)
        if file.exists():
            file.unlink()


def journal_for(base: UPath, context: dg.InputContext | dg.OutputContext) -> Journal | None:
    """The journal of this step's asset; None outside a run (a unit test's bare context) or for an op output."""
    if not context.has_asset_key:
        return None
    try:
        step = context.step_context
    except dg.DagsterInvariantViolationError:
        return None
    return Journal(base, context.asset_key, context.has_asset_partitions, step.run_id, step.instance)
