"""`kind: table`: any CSV or Parquet table, from a path, a file bundled with ml_assets, an http(s)://, s3:// or other
fsspec URL; one file per month (`{month}` in the path) or one table split by a time column, or the whole table.

Read as delivered: text, categories, dates and missing values are kept, and the pipeline's features say what the
model does with them. A file is refused, before anything is stored, when it does not parse the same way row after
row (a row with a field too many or too few, named by its line), when it ends mid-line, or when its SHA-256 is not
the declared one.
"""

from __future__ import annotations

import hashlib
import io
from collections.abc import Callable
from dataclasses import dataclass
from pathlib import Path
from typing import TYPE_CHECKING, Literal

from pydantic import Field, model_validator
from upath import UPath

from ml_assets.files import read_parquet
from ml_assets.sources import http
from ml_assets.sources.base import (
    DataSource,
    MonthNotAvailableError,
    SourceDataError,
    SourceSpecBase,
    SourceUnavailableError,
)

if TYPE_CHECKING:  # imported where used: the code location loads without them
    import pandas as pd

DATASETS_DIR = Path(__file__).resolve().parents[1] / "datasets"
HASHED_UP_TO_BYTES = 64 << 20  # files below this are fingerprinted by content, larger ones by size and time


class TableSpec(SourceSpecBase):
    """`kind: table` (also `csv`, `parquet`): a CSV or Parquet file by path or URL."""

    kind: Literal["table", "csv", "parquet"] = Field(
        description="table (format from the file name), csv or parquet."
    )
    path: str | None = Field(
        default=None,
        description="A path, an http(s)://, s3:// or other fsspec URL, or package://<package>/<file> (a "
        "file an installed "
        "package ships); may contain {month} (YYYY-MM) for one file per month. .zip and .gz files are "
        "unpacked. Empty: the `bundled` copy.",
    )
    bundled: str | None = Field(
        default=None, description="A file under ml_assets/datasets/, read when `path` is empty."
    )
    format: Literal["csv", "parquet"] | None = Field(
        default=None,
        description="csv or parquet; unset: from the file name (.parquet/.pq are Parquet, the rest CSV).",
    )
    sha256: str | None = Field(
        default=None, description="Expected SHA-256 of the file read; any other content is refused."
    )
    columns: list[str] | None = Field(
        default=None, description="CSV: column names, for a file without a header row."
    )
    separator: str = Field(default=",", description="CSV: the field separator.")
    na_values: list[str] = Field(
        default_factory=list, description="CSV: strings that mean a missing value (besides the empty field)."
    )
    parse_dates: list[str] = Field(default_factory=list, description="Columns to read as timestamps.")
    time_column: str | None = Field(
        default=None,
        description="A timestamp column. Monthly without {month} in the path: splits the table by month. "
        "With {month}: rows outside the month are counted and dropped.",
    )
    timeout_s: float = Field(default=60.0, gt=0, description="Network timeout of a request, seconds.")

    @model_validator(mode="after")
    def _where(self) -> TableSpec:
        if not (self.path or self.bundled):
            raise ValueError("source.path is not set: a table needs a path or URL (or a `bundled` file)")
        if self.kind != "table" and self.format is None:
            self.format = self.kind  # type: ignore[assignment]
        return self

    def monthly_ready(self) -> str | None:
        if "{month}" in (self.path or "") or self.time_column:
            return None
        return (
            "a table is monthly by a '{month}' in source.path (one file per month) or by "
            "source.time_column (one table split by month)"
        )

    def whole_table_ready(self) -> str | None:
        if "{month}" in (self.path or ""):
            return "source.path holds '{month}': declare partitioning.monthly, or name one file"
        return None

    def build(self) -> DataSource:
        location = self.path or str(DATASETS_DIR / (self.bundled or ""))
        plain = location.lower().split("?")[0].removesuffix(".gz").removesuffix(".zip")
        fmt = self.format or ("parquet" if plain.endswith((".parquet", ".pq")) else "csv")
        return TableSource(
            location,
            fmt,
            self.sha256,
            tuple(self.columns) if self.columns else None,
            self.separator,
            tuple(self.na_values),
            tuple(self.parse_dates),
            self.time_column,
            self.timeout_s,
        )


def sha256_of(data: bytes) -> str:
    return hashlib.sha256(data).hexdigest()


def _cache_folder(cache_dir: str, url: str) -> UPath:
    return UPath(cache_dir) / "tables" / hashlib.sha1(url.encode()).hexdigest()[:12]


def package_file(location: str) -> str:
    """package://<package>/<path>: the file as an installed package ships it (found without importing the package)."""
    import importlib.util

    package, _, inside = location.removeprefix("package://").partition("/")
    spec = importlib.util.find_spec(package)
    if spec is None or not spec.submodule_search_locations:
        raise SourceDataError(
            "-", location, f"the package {package!r} is not installed (pip install {package})"
        )
    return str(Path(next(iter(spec.submodule_search_locations))) / inside)


def packed(location: str) -> bool:
    """Whether the file is a .gz or .zip one, which `unpacked` opens."""
    return location.lower().split("?")[0].endswith((".gz", ".zip"))


def unpacked(data: bytes, location: str, month: str | None) -> bytes:
    """A .zip (one member) or .gz file's content; anything else as it is."""
    import gzip
    import zipfile

    name = location.lower().split("?")[0]
    try:
        if name.endswith(".gz"):
            return gzip.decompress(data)
        if name.endswith(".zip"):
            with zipfile.ZipFile(io.BytesIO(data)) as archive:
                members = [m for m in archive.namelist() if not m.endswith("/")]
                if len(members) != 1:
                    raise SourceDataError(
                        month or "-",
                        location,
                        f"the archive holds {len(members)} files {members[:5]}, not one table",
                    )
                return archive.read(members[0])
    except (OSError, zipfile.BadZipFile, EOFError) as exc:
        raise SourceDataError(month or "-", location, f"not a readable archive ({exc})") from None
    return data


def source_file(location: str, cache_dir: str, month: str | None, timeout_s: float) -> UPath:
    """Where the file is read from: HTTP through the download cache (re-fetched when the source changes), else the
    path or fsspec URL itself, which must exist."""
    from ml_assets.sources.download_cache import cached_month_file

    if http.is_http(location):
        return cached_month_file(_cache_folder(cache_dir, location), location, month or "", timeout_s)
    path = UPath(location)
    try:
        if not path.exists():
            raise (MonthNotAvailableError if month else SourceDataError)(
                month or "-", location, "no such file"
            )
    except OSError as exc:  # a remote filesystem that did not answer
        raise SourceUnavailableError(f"{location}: {type(exc).__name__}: {exc}") from exc
    return path


def read_bytes(path: UPath, location: str, month: str | None) -> bytes:
    try:
        return path.read_bytes()
    except (PermissionError, FileNotFoundError) as exc:
        raise SourceDataError(month or "-", location, f"cannot read it ({type(exc).__name__})") from exc
    except OSError as exc:  # a remote filesystem that did not answer
        raise SourceUnavailableError(f"{location}: {type(exc).__name__}: {exc}") from exc


def file_state(data: bytes | Path) -> tuple[int, int] | None:
    """A file's size and modification time (None for bytes in memory, which do not change)."""
    if isinstance(data, bytes):
        return None
    stat = data.stat()
    return stat.st_size, stat.st_mtime_ns


def file_sha256(path: UPath, location: str, month: str | None) -> str:
    """A local file's SHA-256, read a block at a time."""
    try:
        with open(path, "rb") as file:
            return hashlib.file_digest(file, "sha256").hexdigest()
    except OSError as exc:
        raise SourceDataError(month or "-", location, f"cannot read it ({type(exc).__name__})") from exc


def _line_with_wrong_field_count(text: str, expected: int, separator: str) -> tuple[int, int] | None:
    import csv

    for number, row in enumerate(csv.reader(io.StringIO(text), delimiter=separator), start=1):
        if row and len(row) != expected:
            return number, len(row)
    return None


def parse_csv(
    data: bytes | Path,
    location: str,
    month: str | None,
    columns: tuple[str, ...] | None,
    separator: str,
    na_values: tuple[str, ...],
) -> pd.DataFrame:
    """A CSV read strictly: every row has the header's (or `columns`') number of fields, and the file ends with a
    complete line. pandas alone would take a field too many per row as the index and shift every column.

    A well-formed file is read by Arrow's CSV reader (on every CPU, from the bytes as they are, with text values
    shared between rows), giving the frame pandas' reader gives; any file Arrow reads otherwise or refuses (a short or
    long row, text in a column of numbers further down, a header pandas would rename, not UTF-8) is read by the
    strict pandas path below, whose errors name the line (on a big file it takes several times the time and twice
    the memory)."""
    frame = _arrow_csv(data, columns, separator, na_values)
    if frame is not None:
        return frame
    return _strict_csv(data, location, month, columns, separator, na_values)


# pandas' own: what its CSV reader takes for a missing value, given to Arrow's reader (its booleans are below)
PANDAS_NA_VALUES = (
    "", "#N/A", "#N/A N/A", "#NA", "-1.#IND", "-1.#QNAN", "-NaN", "-nan", "1.#IND", "1.#QNAN", "<NA>", "N/A", "NA",
    "NULL", "NaN", "None", "n/a", "nan", "null",
)  # fmt: skip


# a CSV's column types are inferred from its first lines (about this many bytes) and the file is then read with
# those types: Arrow's reader inferring types over a whole file holds several times the table while it reads
TYPES_FROM_BYTES = 4 << 20


def _arrow_csv(
    data: bytes | Path,
    columns: tuple[str, ...] | None,
    separator: str,
    na_values: tuple[str, ...],
    types_from_bytes: int = TYPES_FROM_BYTES,
) -> pd.DataFrame | None:
    """The frame pandas' reader would give, read by Arrow from the bytes or a local file; None where they could
    differ or the file is not well formed (the strict path then reads it and names what is wrong)."""
    import numpy as np
    import pandas as pd
    import pyarrow as pa
    import pyarrow.csv as arrow_csv

    from ml_assets.files import release_arrow_memory

    head, last = _head_and_last_byte(data, types_from_bytes)
    if last not in (b"\n", b"\r") or head.startswith(b"\xef\xbb\xbf") or len(separator) != 1:
        return None

    def read(source, column_types: dict) -> pa.Table:
        return arrow_csv.read_csv(
            source() if callable(source) else source,
            read_options=arrow_csv.ReadOptions(column_names=list(columns) if columns else None),
            parse_options=arrow_csv.ParseOptions(delimiter=separator),
            convert_options=arrow_csv.ConvertOptions(
                column_types=column_types,
                null_values=[*PANDAS_NA_VALUES, *na_values],
                strings_can_be_null=True,
                true_values=["True", "TRUE", "true"],
                false_values=["False", "FALSE", "false"],
            ),
        )

    def whole_file():
        return io.BytesIO(data) if isinstance(data, bytes) else pa.OSFile(str(data))

    def text_for_temporal(types: dict) -> dict:
        """pandas leaves dates and times as text (source.parse_dates reads them): so do these types"""
        return {
            name: pa.string() if pa.types.is_temporal(kind) and not pa.types.is_duration(kind) else kind
            for name, kind in types.items()
        }

    try:
        settled = {}
        # a file longer than its first lines: the types they settle (a later value that does not fit one, a decimal
        # in a column of integers or text in a column of numbers, fails the read, which then infers over every
        # line); a file that is all first lines is read once, inferring
        if len(head) == types_from_bytes:
            try:
                first_lines = read(io.BytesIO(head[: head.rfind(b"\n") + 1]), {}).schema
                settled = {f.name: f.type for f in first_lines if not pa.types.is_null(f.type)}
            except (pa.ArrowInvalid, pa.ArrowNotImplementedError, ValueError):
                pass
        try:
            table = read(whole_file, text_for_temporal(settled))
        except (pa.ArrowInvalid, pa.ArrowNotImplementedError, ValueError):
            if not settled:
                raise
            table = read(whole_file, {})
        names = table.column_names
        if len(set(names)) != len(names) or not all(names) or table.num_rows == 0:
            return None  # pandas renames repeated and empty names; an empty file gets its own message
        if len(names) == 1:
            return None  # pandas skips a line of blanks as empty, which in one column is a value to Arrow
        types = dict(zip(names, table.schema.types, strict=True))
        if text_for_temporal(types) != types:
            table = read(whole_file, text_for_temporal(types))
        if any(beyond_exact_integers(table[f.name]) for f in table.schema if pa.types.is_floating(f.type)):
            return None  # an integer past int64 is a float here and uint64 or text in pandas: read as pandas does
        # a column of missing values only is a column of NaN in pandas
        table = table.cast(
            pa.schema(
                [pa.field(f.name, pa.float64()) if pa.types.is_null(f.type) else f for f in table.schema]
            )
        )
    except (pa.ArrowInvalid, pa.ArrowNotImplementedError, ValueError):
        return None
    finally:
        release_arrow_memory()
    try:
        frame = table.to_pandas(self_destruct=True, split_blocks=False)
    finally:
        release_arrow_memory()
    # a missing text value is NaN in pandas' reader, not None
    for name in [c for c, kind in frame.dtypes.items() if pd.api.types.is_object_dtype(kind)]:
        values = frame[name].to_numpy()
        missing = pd.isna(values)
        if missing.any():
            frame[name] = np.where(missing, np.nan, values)
    return frame


def _head_and_last_byte(data: bytes | Path, head_bytes: int) -> tuple[bytes, bytes]:
    if isinstance(data, bytes):
        return data[:head_bytes], data[-1:]
    with open(data, "rb") as file:
        head = file.read(head_bytes)
        size = file.seek(0, io.SEEK_END)
        file.seek(max(size - 1, 0))
        return head, file.read(1)


def beyond_exact_integers(column) -> bool:
    """Whether a float column holds a value of 2**53 or more, where a float no longer holds every integer."""
    import pyarrow.compute as pc

    largest = pc.max(pc.abs(column)).as_py()
    return largest is not None and largest >= 2**53


def _strict_csv(
    data: bytes | Path,
    location: str,
    month: str | None,
    columns: tuple[str, ...] | None,
    separator: str,
    na_values: tuple[str, ...],
) -> pd.DataFrame:
    """pandas' reader on the decoded text, every line's field count checked: slow and memory-hungry on a big file,
    and exact about what is wrong with one."""
    import warnings

    import pandas as pd

    where = month or "-"
    if isinstance(data, Path):
        data = data.read_bytes()
    try:
        text = data.decode("utf-8-sig")
    except UnicodeDecodeError as exc:
        raise SourceDataError(where, location, f"not a UTF-8 text file ({exc})") from exc
    if not text.strip():
        raise SourceDataError(where, location, "the file is empty")
    first = next(iter(__import__("csv").reader(io.StringIO(text), delimiter=separator)), [])
    expected = len(columns) if columns else len(first)
    if not text.endswith(("\n", "\r")):
        last_line = text.splitlines()[-1]
        found = _line_with_wrong_field_count(last_line, expected, separator)
        if found:
            raise SourceDataError(
                where,
                location,
                f"the file ends mid-line: its last line ({len(text.splitlines())}) has {found[1]} of "
                f"{expected} fields (cut off in transfer?)",
            )
    try:
        with warnings.catch_warnings():
            warnings.simplefilter("error", pd.errors.ParserWarning)
            frame = pd.read_csv(
                io.StringIO(text),
                sep=separator,
                header=None if columns else "infer",
                names=list(columns) if columns else None,
                index_col=False,
                na_values=list(na_values) or None,
                float_precision="round_trip",  # the number written, as Arrow's reader gives it
            )
    except (pd.errors.ParserWarning, pd.errors.ParserError) as exc:
        found = _line_with_wrong_field_count(text, expected, separator)
        if found is None:
            raise SourceDataError(where, location, f"not a readable CSV file ({str(exc).strip()})") from None
        what = "source.columns names" if columns else "the header has"
        raise SourceDataError(
            where, location, f"line {found[0]} has {found[1]} fields where {what} {expected}"
        ) from None
    if frame.empty:
        raise SourceDataError(where, location, "the file holds no rows")
    # pandas fills a row with a field too few with missing values, silently: every row is counted here
    found = _line_with_wrong_field_count(text, expected, separator)
    if found:
        what = "source.columns names" if columns else "the header has"
        raise SourceDataError(
            where, location, f"line {found[0]} has {found[1]} fields where {what} {expected}"
        )
    return frame


def parse_parquet(data: bytes | Path, location: str, month: str | None) -> pd.DataFrame:
    import pyarrow as pa

    try:
        frame = read_parquet(io.BytesIO(data) if isinstance(data, bytes) else data)
    except (pa.ArrowInvalid, OSError, ValueError) as exc:
        raise SourceDataError(month or "-", location, f"not a readable Parquet file ({exc})") from exc
    if frame.empty:
        raise SourceDataError(month or "-", location, "the file holds no rows")
    return frame


def parse_table(data: bytes | Path, location: str, fmt: str, columns, separator, na_values) -> pd.DataFrame:
    return (
        parse_parquet(data, location, None)
        if fmt == "parquet"
        else parse_csv(data, location, None, columns, separator, na_values)
    )


# the last whole table parsed for month slices, by its content and how it is read: a range run cuts one file into
# many months, parsed once. Only the frame is kept (not the file's bytes), and only for month slices: a table read
# whole is not held beyond its step.
_month_slice_table: dict[tuple, pd.DataFrame] = {}


def parsed_for_month_slices(key: tuple, parse: Callable[[], pd.DataFrame]) -> pd.DataFrame:
    table = _month_slice_table.get(key)
    if table is None:
        _month_slice_table.clear()  # the previous table goes before the next is parsed
        table = _month_slice_table[key] = parse()
    return table


@dataclass(frozen=True)
class TableSource(DataSource):
    path: str
    format: str
    sha256: str | None
    columns: tuple[str, ...] | None
    separator: str
    na_values: tuple[str, ...]
    parse_dates: tuple[str, ...]
    time_column: str | None
    timeout_s: float = 60.0

    @property
    def label(self) -> str:  # type: ignore[override]
        return f"{self.format.upper()} table"

    @property
    def offline(self) -> bool:  # type: ignore[override]
        return not http.is_http(self.path)

    @property
    def per_month_files(self) -> bool:
        return "{month}" in self.path

    def location(self, partition: str | None) -> str:
        location = self.path.format(month=partition) if self.per_month_files and partition else self.path
        return package_file(location) if location.startswith("package://") else location

    def fingerprint(self, partition: str | None) -> str | None:
        from ml_assets.sources.download_cache import source_fingerprint

        location = self.location(partition)
        path = None if http.is_http(location) else UPath(location)
        if path is None or not path.exists() or path.stat().st_size > HASHED_UP_TO_BYTES:
            # HEAD headers for a URL, size and modification time for a large file, None for no file
            return source_fingerprint(location, min(self.timeout_s, 10.0))
        digest = "sha256:" + sha256_of(path.read_bytes())
        return (
            digest
            if not (partition and self.time_column and not self.per_month_files)
            else f"{digest}|{partition}"
        )

    def load(self, partition: str | None, cache_dir: str) -> tuple[pd.DataFrame, str]:
        from ml_assets.files import is_local

        location = self.location(partition)
        path = source_file(location, cache_dir, partition, self.timeout_s)
        # a file on this machine's disk, not packed, is read from the disk as it is parsed, not held whole
        data: bytes | Path = (
            Path(path.path)
            if is_local(path) and not packed(location)
            else read_bytes(path, location, partition)
        )
        as_hashed = file_state(data)
        digest = sha256_of(data) if isinstance(data, bytes) else file_sha256(path, location, partition)
        if self.sha256 and digest != self.sha256:
            raise SourceDataError(
                partition or "-", location, f"its SHA-256 is {digest}, source.sha256 expects {self.sha256}"
            )
        if isinstance(data, bytes):
            data = unpacked(data, location, partition)
        read = (location, self.format, self.columns, self.separator, self.na_values)

        def parsed() -> pd.DataFrame:
            frame = parse_table(data, *read)
            if file_state(data) != as_hashed:  # what was parsed may not be what was hashed: read it again
                raise SourceUnavailableError(f"{location}: the file changed while it was read")
            return self.with_timestamps(frame, partition, location)

        if not (partition and self.time_column and not self.per_month_files):
            return parsed(), location
        from ml_assets.months import month_bounds

        # a month cut from one file: the whole table is parsed once for the range's months
        table = parsed_for_month_slices((digest, *read, self.parse_dates, self.time_column), parsed)
        start, end = month_bounds(partition)
        stamps = table[self.time_column]
        frame = table[(stamps >= start) & (stamps < end)].reset_index(drop=True)
        if frame.empty:
            raise MonthNotAvailableError(
                partition, location, f"no row's {self.time_column} falls in {partition}"
            )
        return frame, location

    def with_timestamps(self, frame: pd.DataFrame, partition: str | None, location: str) -> pd.DataFrame:
        """`parse_dates` and `time_column` read as timestamps (naive, in UTC when the values carry a zone)."""
        import pandas as pd

        for column in {*self.parse_dates, *([self.time_column] if self.time_column else [])}:
            if column not in frame.columns:
                raise SourceDataError(
                    partition or "-",
                    location,
                    f"no column {column!r} to read as timestamps; it has {list(frame.columns)}",
                )
            try:
                stamps = pd.to_datetime(frame[column])
                # with a time zone: kept as UTC without one (MLflow signatures and month bounds take naive timestamps)
                frame[column] = (
                    stamps.dt.tz_convert(None) if getattr(stamps.dt, "tz", None) is not None else stamps
                )
            except (ValueError, TypeError) as exc:
                raise SourceDataError(
                    partition or "-", location, f"column {column!r} does not hold timestamps ({exc})"
                ) from None
        return frame
