"""Files written whole or not at all, on a local disk or an object store (pure: no Dagster)."""

from __future__ import annotations

import io
import uuid
from collections.abc import Callable
from typing import IO, TYPE_CHECKING

if TYPE_CHECKING:
    import pandas as pd
    from upath import UPath


def put_bytes(path: UPath, data: bytes) -> None:
    """`path` holds either its previous content or all of `data`, never a torn file: a temporary file renamed
    into place on a local disk; one PUT on an object store, where a rename would be a copy and a delete."""
    if not is_local(path):
        path.write_bytes(data)
        return
    tmp = path.with_name(f".{path.name}.{uuid.uuid4().hex}.tmp")
    try:
        tmp.write_bytes(data)
        tmp.rename(path)
    finally:
        if tmp.exists():
            tmp.unlink()


def is_local(path: UPath) -> bool:
    return getattr(path, "protocol", "") in ("", "file", "local")


def serialized(write: Callable[[IO[bytes]], None]) -> bytes:
    buffer = io.BytesIO()
    write(buffer)
    return buffer.getvalue()


def write_atomically(path: UPath, write: Callable[[IO[bytes]], None]) -> None:
    """`path` holds either its previous content or the whole new one, never a torn file.

    The value is serialized in memory first (a failed serialization writes nothing), then stored by `put_bytes`:
    on a local disk a temporary file renamed into place; on an object store one PUT, because fsspec's rename there
    is a copy and a delete that a kill can split (s3fs switches to a multipart upload above 50 MB, which is not
    visible until completed)."""
    put_bytes(path, serialized(write))


def read_parquet(source) -> pd.DataFrame:
    """A Parquet file (a path, a handle or a buffer) as a pandas frame. Arrow's allocator keeps the memory a read
    frees for reuse, so a big table's read would go on holding its size again; it is handed back here."""
    import pandas as pd

    try:
        return pd.read_parquet(source)
    finally:
        release_arrow_memory()


def write_parquet(frame: pd.DataFrame, target) -> None:
    """`frame` as Parquet (no index) into `target` (a path or a handle), Arrow's freed memory handed back as by
    `read_parquet`."""
    try:
        frame.to_parquet(target, index=False)
    finally:
        release_arrow_memory()


def release_arrow_memory() -> None:
    import pyarrow as pa

    pa.default_memory_pool().release_unused()
