"""IO managers on `dg.UPathIOManager`: local folders by default, any fsspec URL by config.

Every file is written whole or not at all (`files.put_staged`), and a step's files are kept in
step with its materialization: a step that dies while writing a range of months leaves every month
either stored and materialized or as it was before (`journal.py`). A value is serialized, every month
of it, before the first file is touched, so a failure to serialize stores nothing: on a local disk into
a hidden temporary file beside its target (a big table is never held whole as bytes), on an object
store in memory.

A monthly asset runs over a range of months (a single-run backfill, or one month): it returns
`ByMonth({month: value})` and the store writes one file per month; a partitioned input arrives
as a `{month: value}` dict. A month that was never materialized fails with a message naming it
and saying how to fill it, unless the input is declared `allow_missing_partitions` (then it is
left out of the dict and the asset decides).
"""

from __future__ import annotations

import json
from typing import TYPE_CHECKING, Any

import dagster as dg
from upath import UPath

from ml_assets.files import (
    Staged,
    discard_staged,
    put_staged,
    read_parquet,
    release_memory,
    staged,
    write_parquet,
)
from ml_assets.storage.journal import WHOLE_ASSET, journal_for

if TYPE_CHECKING:  # imported where used: the code location loads without them
    import pandas as pd


def run_of(context: dg.OutputContext) -> str:
    """The run writing the output ("" for a bare context built by a test)."""
    try:
        return context.run_id
    except dg.DagsterInvariantViolationError:
        return ""


def discard_all(files: dict[str, dict[UPath, Staged]]) -> None:
    for month in files.values():
        for data in month.values():
            discard_staged(data)


class ByMonth(dict):
    """An asset's value for each month of the range it ran over."""


def missing_partition_message(asset: dg.AssetKey, partition: str, needed_by: str = "this step") -> str:
    """Which month is missing, and the command and the UI action that fill it."""
    pipeline = asset.path[0]
    return (
        f"{asset.to_user_string()} has never been materialized for {partition}, and {needed_by} needs it. "
        f"Materialize {partition} first: `dg launch --assets 'group:{pipeline}' --partition {partition}`, "
        f"or in the UI: Assets > group {pipeline} > Materialize all > partition {partition}."
    )


def damaged_file_message(asset: dg.AssetKey, path: UPath, partition: str | None, error: Exception) -> str:
    """A stored file that cannot be read: which, why, and the command that rebuilds it."""
    where = f" --partition {partition}" if partition else ""
    return (
        f"{path}, the stored {asset.to_user_string()}{f' of {partition}' if partition else ''}, cannot be read "
        f"({type(error).__name__}: {str(error)[:200]}): the file is damaged. Rebuild it with "
        f"`dagster asset materialize -m ml_assets.definitions --select '{asset.to_user_string()}'{where}` "
        f"(or Materialize in the UI); nothing else reads it until then."
    )


class MonthlyStore(dg.UPathIOManager):
    """One file per partition; ranges of partitions in and out (see the module docstring)."""

    def read(self, context: dg.InputContext, path: UPath) -> Any:
        raise NotImplementedError

    def encode(self, obj: Any, path: UPath, owner: str = "") -> dict[UPath, Staged]:
        """Every file `obj` is stored in at `path`, serialized (`files.staged`, by `owner`: the run)."""
        raise NotImplementedError

    def write_file(self, path: UPath, data: Staged) -> None:
        put_staged(path, data)

    def dump_to_path(self, context: dg.OutputContext, obj: Any, path: UPath) -> None:
        self._store(context, self._encoded(context, {WHOLE_ASSET: (obj, path)}))

    def _encoded(
        self, context: dg.OutputContext, values: dict[str, tuple[Any, UPath]]
    ) -> dict[str, dict[UPath, Staged]]:
        """Every month's value serialized for its path; one that fails leaves nothing staged."""
        owner = run_of(context)
        files: dict[str, dict[UPath, Staged]] = {}
        try:
            for key, (obj, path) in values.items():
                self.make_directory(path.parent)
                files[key] = self.encode(obj, path, owner)
        except BaseException:
            discard_all(files)
            raise
        return files

    def _store(self, context: dg.OutputContext, files: dict[str, dict[UPath, Staged]]) -> None:
        """Write every month's files under a journal: all kept with the materialization, or all undone."""
        try:
            journal = journal_for(self._base_path, context)
            if journal is not None:
                journal.settle()
                journal.begin({key: list(month) for key, month in files.items()})
        except BaseException:
            discard_all(files)
            raise
        try:
            for month in files.values():
                for path, data in month.items():
                    self.write_file(path, data)
        except BaseException:
            discard_all(files)
            if journal is not None:
                journal.roll_back_own()
            raise

    def load_from_path(self, context: dg.InputContext, path: UPath) -> Any:
        try:
            return self.read(context, path)
        except (FileNotFoundError, dg.Failure):
            raise
        except Exception as exc:  # noqa: BLE001 - whatever the format's reader raises on a damaged file
            asset = context.asset_key if context.has_asset_key else dg.AssetKey(path.stem)
            partition = path.stem if context.has_asset_partitions else None
            raise dg.Failure(damaged_file_message(asset, path, partition, exc), allow_retries=False) from exc

    def load_input(self, context: dg.InputContext) -> Any:
        release_memory()  # what the run's steps before this one freed, before a big input is read beside it
        journal = journal_for(self._base_path, context)
        if journal is not None:
            journal.settle()  # a dead run's unrecorded files are undone before anyone reads them
        if not (context.has_asset_key and context.has_asset_partitions):
            return super().load_input(context)
        allow_missing = bool((context.definition_metadata or {}).get("allow_missing_partitions"))
        loaded = {}
        for partition, path in self._get_paths_for_partitions(context).items():
            if not path.exists():
                if allow_missing:
                    continue
                raise dg.Failure(missing_partition_message(context.asset_key, partition), allow_retries=False)
            loaded[partition] = self.load_from_path(context, path)
        return loaded

    def handle_output(self, context: dg.OutputContext, obj: Any) -> None:
        if not context.has_asset_partitions:
            return super().handle_output(context, obj)
        paths = self._get_paths_for_partitions(context)
        if not isinstance(obj, ByMonth) or set(obj) != set(paths):
            raise TypeError(
                f"{context.asset_key.to_user_string()} must return ByMonth with one value per partition "
                f"{sorted(paths)}; got {type(obj).__name__} {sorted(obj) if isinstance(obj, dict) else ''}"
            )
        self._store(
            context,
            self._encoded(
                context, {partition: (obj[partition], path) for partition, path in sorted(paths.items())}
            ),
        )
        first = next(iter(sorted(paths.values())))
        context.add_output_metadata(
            {
                "path": dg.MetadataValue.path(str(first if len(paths) == 1 else first.parent)),
                **self.get_metadata(context, obj),
            }
        )


class ParquetFrameStore(MonthlyStore):
    extension = ".parquet"

    def encode(self, obj: pd.DataFrame, path: UPath, owner: str = "") -> dict[UPath, Staged]:
        return {path: staged(path, lambda handle: write_parquet(obj, handle), owner)}

    def read(self, context: dg.InputContext, path: UPath) -> pd.DataFrame:
        with path.open("rb") as handle:
            return read_parquet(handle)

    def get_metadata(self, context: dg.OutputContext, obj: pd.DataFrame) -> dict[str, Any]:
        frames = obj.values() if isinstance(obj, ByMonth) else [obj]
        return {"dagster/row_count": sum(len(frame) for frame in frames)}


class ModelStore(MonthlyStore):
    extension = ".joblib"

    def encode(self, obj: Any, path: UPath, owner: str = "") -> dict[UPath, Staged]:
        import joblib

        return {path: staged(path, lambda handle: joblib.dump(obj, handle), owner)}

    def read(self, context: dg.InputContext, path: UPath) -> Any:
        import joblib

        with path.open("rb") as handle:
            return joblib.load(handle)


class ReportStore(MonthlyStore):
    """A report dict as JSON, plus its `markdown` entry as a .md file beside it."""

    extension = ".json"

    def encode(self, obj: dict, path: UPath, owner: str = "") -> dict[UPath, Staged]:
        return {
            path.with_suffix(".md"): obj["markdown"].encode(),
            path: json.dumps(obj, indent=2, default=str).encode(),
        }

    def read(self, context: dg.InputContext, path: UPath) -> dict:
        with path.open("rb") as handle:
            return json.loads(handle.read())


class _UPathIOManagerFactory(dg.ConfigurableIOManagerFactory):
    base_path: str

    def _store(self) -> type[dg.UPathIOManager]:
        raise NotImplementedError

    def create_io_manager(self, context: dg.InitResourceContext) -> dg.UPathIOManager:
        return self._store()(base_path=UPath(self.base_path))


class FrameIOManager(_UPathIOManagerFactory):
    """DataFrames as Parquet: base_path/<pipeline>/<asset>/<YYYY-MM>.parquet, or <asset>.parquet unpartitioned."""

    def _store(self) -> type[dg.UPathIOManager]:
        return ParquetFrameStore


class ModelIOManager(_UPathIOManagerFactory):
    """Fitted scikit-learn pipelines as joblib files, one per partition."""

    def _store(self) -> type[dg.UPathIOManager]:
        return ModelStore


class ReportIOManager(_UPathIOManagerFactory):
    """Reports as JSON (full-precision metrics) and Markdown (the rendered report) side by side."""

    def _store(self) -> type[dg.UPathIOManager]:
        return ReportStore
