"""Files written whole or not at all, on a local disk or an object store (pure: no Dagster)."""

from __future__ import annotations

import functools
import io
import uuid
from collections.abc import Callable
from typing import IO, TYPE_CHECKING, Union

if TYPE_CHECKING:
    import pandas as pd
    from upath import UPath


def put_bytes(path: UPath, data: bytes) -> None:
    """`path` holds either its previous content or all of `data`, never a torn file: a temporary file renamed
    into place on a local disk; one PUT on an object store, where a rename would be a copy and a delete."""
    if not is_local(path):
        path.write_bytes(data)
        return
    put_staged(path, staged(path, lambda handle: handle.write(data)))


def is_local(path: UPath) -> bool:
    return getattr(path, "protocol", "") in ("", "file", "local")


def serialized(write: Callable[[IO[bytes]], None]) -> bytes:
    buffer = io.BytesIO()
    write(buffer)
    return buffer.getvalue()


# A value serialized for `path` and not yet stored there: on a local disk a hidden temporary file beside it (a big
# table is written to the disk as it is serialized, never held whole in memory), on an object store its bytes.
Staged = Union[bytes, "UPath"]


def staged(path: UPath, write: Callable[[IO[bytes]], None], owner: str = "") -> Staged:
    """`write`'s output, ready for `put_staged`; a failed `write` leaves nothing behind. `owner` (a run id) is in
    the temporary file's name, so what a killed writer left is found by it (`staged_leftovers`)."""
    if not is_local(path):
        return serialized(write)
    path.parent.mkdir(parents=True, exist_ok=True)
    tmp = path.with_name(f".{path.name}.{owner + '.' if owner else ''}{uuid.uuid4().hex}.tmp")
    try:
        with tmp.open("wb") as handle:
            write(handle)
    except BaseException:
        tmp.unlink(missing_ok=True)
        raise
    return tmp


def put_staged(path: UPath, data: Staged) -> None:
    """`path` holds `data` whole: a staged file renamed into place (atomic on a local disk), or bytes in one PUT."""
    if isinstance(data, bytes):
        put_bytes(path, data)
        return
    try:
        data.rename(path)
    finally:
        discard_staged(data)


def staged_leftovers(path: UPath, owner: str) -> list[UPath]:
    """The temporary files `owner` staged for `path` and never stored (its writer was killed)."""
    return list(path.parent.glob(f".{path.name}.{owner}.*.tmp")) if is_local(path) else []


def discard_staged(data: Staged) -> None:
    """A staged file not stored after all, removed (bytes need nothing)."""
    if not isinstance(data, bytes):
        data.unlink(missing_ok=True)


def write_atomically(path: UPath, write: Callable[[IO[bytes]], None]) -> None:
    """`path` holds either its previous content or the whole new one, never a torn file.

    The value is serialized first (a failed serialization writes nothing): on a local disk into a temporary file
    renamed into place; on an object store in memory, then one PUT, because fsspec's rename there is a copy and a
    delete that a kill can split (s3fs switches to a multipart upload above 50 MB, which is not visible until
    completed)."""
    put_staged(path, staged(path, write))


def read_parquet(source) -> pd.DataFrame:
    """A Parquet file (a path, a handle or a buffer) as a pandas frame. Arrow's allocator keeps the memory a read
    frees for reuse, so a big table's read would go on holding its size again; it is handed back here."""
    import pandas as pd

    try:
        return pd.read_parquet(source)
    finally:
        release_arrow_memory()


# rows converted to Arrow and written as one row group at a time: Arrow's own default row group size
ROWS_PER_GROUP = 1 << 20


def write_parquet(frame: pd.DataFrame, target, rows_per_group: int = ROWS_PER_GROUP) -> None:
    """`frame` as Parquet (no index) into `target` (a path or a handle): the file pandas' `to_parquet` writes,
    converted to Arrow a row group at a time (not the whole frame beside itself), Arrow's freed memory handed
    back as by `read_parquet`."""
    import pyarrow as pa
    import pyarrow.parquet as pq

    try:
        if len(frame) <= rows_per_group:  # one row group: pandas' own writer, without a second conversion
            frame.to_parquet(target, index=False)
            return
        schema = pa.Schema.from_pandas(frame, preserve_index=False)
        with pq.ParquetWriter(target, schema) as writer:
            for start in range(0, len(frame), rows_per_group):
                part = frame.iloc[start : start + rows_per_group]
                writer.write_table(pa.Table.from_pandas(part, schema=schema, preserve_index=False))
    finally:
        release_arrow_memory()


def release_arrow_memory() -> None:
    import pyarrow as pa

    pa.default_memory_pool().release_unused()


def release_memory() -> None:
    """What the steps before freed, handed back to the system before a step reads its inputs: Arrow's pool released
    and glibc's heap trimmed (it keeps freed memory below its top for reuse; after a big table's step that can be
    gigabytes a run's next step would start on top of). No garbage collection: a full one takes 0.3 s in a loaded
    code location."""
    release_arrow_memory()
    trim = _malloc_trim()
    if trim is not None:
        trim(0)


@functools.cache
def _malloc_trim():
    """glibc's malloc_trim, None on a C library without it."""
    import ctypes

    return getattr(ctypes.CDLL(None), "malloc_trim", None)
