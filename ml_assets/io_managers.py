"""IO managers on `dg.UPathIOManager`: local folders by default, any fsspec URL by config.

Every write goes to a temporary name beside the target and is renamed into place, so a
failed or killed run leaves either the previous good file or the new one, never a torn one.
"""

from __future__ import annotations

import json
import uuid
from collections.abc import Callable
from typing import IO, Any

import dagster as dg
import joblib
import pandas as pd
from upath import UPath


def write_atomically(path: UPath, write: Callable[[IO[bytes]], None]) -> None:
    tmp = path.with_name(f".{path.name}.{uuid.uuid4().hex}.tmp")
    try:
        with tmp.open("wb") as handle:
            write(handle)
        tmp.rename(path)
    finally:
        if tmp.exists():
            tmp.unlink()


class ParquetFrameStore(dg.UPathIOManager):
    extension = ".parquet"

    def dump_to_path(self, context: dg.OutputContext, obj: pd.DataFrame, path: UPath) -> None:
        write_atomically(path, lambda handle: obj.to_parquet(handle, index=False))

    def load_from_path(self, context: dg.InputContext, path: UPath) -> pd.DataFrame:
        with path.open("rb") as handle:
            return pd.read_parquet(handle)

    def get_metadata(self, context: dg.OutputContext, obj: pd.DataFrame) -> dict[str, Any]:
        return {"dagster/row_count": len(obj)}


class ModelStore(dg.UPathIOManager):
    extension = ".joblib"

    def dump_to_path(self, context: dg.OutputContext, obj: Any, path: UPath) -> None:
        write_atomically(path, lambda handle: joblib.dump(obj, handle))

    def load_from_path(self, context: dg.InputContext, path: UPath) -> Any:
        with path.open("rb") as handle:
            return joblib.load(handle)


class ReportStore(dg.UPathIOManager):
    """A report dict as JSON, plus its `markdown` entry as a .md file beside it."""

    extension = ".json"

    def dump_to_path(self, context: dg.OutputContext, obj: dict, path: UPath) -> None:
        write_atomically(path.with_suffix(".md"), lambda handle: handle.write(obj["markdown"].encode()))
        write_atomically(path, lambda handle: handle.write(json.dumps(obj, indent=2, default=str).encode()))

    def load_from_path(self, context: dg.InputContext, path: UPath) -> dict:
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
