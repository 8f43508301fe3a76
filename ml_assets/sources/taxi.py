"""NYC TLC taxi trip records: download a month's parquet and normalize its two schemas.

The TLC files changed physical types at 2023-02 (int64 -> int32 location ids, double ->
int64 codes, string -> large_string) and green/yellow differ in the timestamp prefix
(lpep_/tpep_). Reading by column name and casting explicitly handles all of them.
"""

from __future__ import annotations

import http.client
import socket
import urllib.error
import urllib.request
import uuid

import pandas as pd
import pyarrow as pa
import pyarrow.parquet as pq
from upath import UPath

from ml_assets.sources.schema import MonthNotAvailableError, SourceDataError, as_id_strings

TIMESTAMP_PREFIX = {"green": "lpep", "yellow": "tpep"}
CHUNK_BYTES = 1 << 20


class SourceUnavailableError(Exception):
    """A transient fault reaching the source (network, 5xx, short read): worth retrying."""


# The model boosts trees on target-encoded routes directly: ~40k sparse taxi routes make a
# one-hot per-route linear baseline overfit (see training.ModelParams.route_baseline).
ROUTE_BASELINE = False

def month_url(url_template: str, color: str, month: str) -> str:
    return url_template.format(color=color, month=month)


def required_columns(color: str) -> list[str]:
    prefix = TIMESTAMP_PREFIX[color]
    return [f"{prefix}_pickup_datetime", f"{prefix}_dropoff_datetime", "PULocationID", "DOLocationID", "trip_distance"]


def _atomic_copy(stream, dest: UPath, expected_bytes: int | None, month: str, url: str) -> int:
    """Stream into a temp file beside dest, then rename: dest is either whole or absent."""
    tmp = dest.with_name(f".{dest.name}.{uuid.uuid4().hex}.part")
    written = 0
    try:
        with tmp.open("wb") as out:
            while chunk := stream.read(CHUNK_BYTES):
                out.write(chunk)
                written += len(chunk)
        if expected_bytes is not None and written != expected_bytes:
            raise SourceUnavailableError(
                f"month {month}: {url}: short read, got {written} of {expected_bytes} bytes"
            )
        tmp.rename(dest)
    finally:
        if tmp.exists():
            tmp.unlink()
    return written


def download_month(url: str, dest: UPath, month: str, timeout_s: float = 60.0) -> int:
    """Fetch `url` to `dest` atomically; returns the byte count.

    Raises MonthNotAvailableError when the source has no such file (no retry helps) and
    SourceUnavailableError for faults a retry may cure.
    """
    dest.parent.mkdir(parents=True, exist_ok=True)
    if not url.startswith(("http://", "https://")):
        source = UPath(url)
        if not source.exists():
            raise MonthNotAvailableError(month, url, "no such file at the source")
        with source.open("rb") as stream:
            return _atomic_copy(stream, dest, source.stat().st_size, month, url)
    try:
        with urllib.request.urlopen(url, timeout=timeout_s) as response:
            length = response.headers.get("Content-Length")
            return _atomic_copy(response, dest, int(length) if length else None, month, url)
    except urllib.error.HTTPError as exc:
        # The TLC's CDN answers 403 (not 404) for a month it has not published.
        if exc.code in (403, 404, 410):
            raise MonthNotAvailableError(month, url, f"HTTP {exc.code}: month not published") from exc
        raise SourceUnavailableError(f"month {month}: {url}: HTTP {exc.code} {exc.reason}") from exc
    except (urllib.error.URLError, socket.timeout, ConnectionError, http.client.HTTPException) as exc:
        raise SourceUnavailableError(f"month {month}: {url}: {exc}") from exc


def read_taxi_month(path: UPath, color: str, month: str) -> pd.DataFrame:
    """Read one TLC month file into the raw schema (pickup, origin, destination, miles, minutes)."""
    location = str(path)
    try:
        with path.open("rb") as handle:
            parquet = pq.ParquetFile(handle)
            columns = set(parquet.schema_arrow.names)
            missing = [c for c in required_columns(color) if c not in columns]
            if missing:
                raise SourceDataError(
                    month, location, f"missing required column(s) {missing} for {color} taxi data"
                )
            table = parquet.read(columns=required_columns(color))
    except (pa.ArrowInvalid, OSError) as exc:
        raise SourceDataError(month, location, f"not a readable parquet file ({exc})") from exc
    if table.num_rows == 0:
        raise SourceDataError(month, location, "the file holds no trips")
    return normalize_taxi(table.to_pandas(), color, month, location)


def normalize_taxi(frame: pd.DataFrame, color: str, month: str, location: str = "") -> pd.DataFrame:
    prefix = TIMESTAMP_PREFIX[color]
    try:
        pickup = pd.to_datetime(frame[f"{prefix}_pickup_datetime"], cache=False).astype("datetime64[us]")
        dropoff = pd.to_datetime(frame[f"{prefix}_dropoff_datetime"], cache=False).astype("datetime64[us]")
        origin = as_id_strings(frame["PULocationID"])
        destination = as_id_strings(frame["DOLocationID"])
        distance = pd.to_numeric(frame["trip_distance"], errors="raise").astype("float64")
    except (TypeError, ValueError) as exc:
        raise SourceDataError(month, location, f"unexpected column types: {exc}") from exc
    return pd.DataFrame(
        {
            "pickup_datetime": pickup,
            "origin": origin,
            "destination": destination,
            "distance": distance,
            "duration_min": (dropoff - pickup).dt.total_seconds() / 60.0,
            "dropoff_datetime": dropoff,
        }
    )


def cached_month_file(cache_dir: UPath, url: str, month: str, timeout_s: float = 60.0) -> UPath:
    """The local copy of a month, downloaded once per source version.

    A sidecar `<file>.source` records the source fingerprint the copy was taken from; when
    the source answers with another one the month is downloaded again. When the source
    cannot be asked (offline), the cached copy is used as it is.
    """
    dest = cache_dir / url.rstrip("/").rsplit("/", 1)[-1]
    marker = dest.with_name(dest.name + ".source")
    try:
        current = source_fingerprint(url, timeout_s)
    except SourceUnavailableError:
        current = None
    if dest.exists() and (current is None or (marker.exists() and marker.read_text() == current)):
        return dest
    download_month(url, dest, month, timeout_s)
    if current is not None:
        marker.write_text(current)
    return dest


def quarantine(path: UPath) -> UPath:
    """Move a cached file that failed to parse aside so the next attempt downloads afresh."""
    target = path.with_name(path.name + ".corrupt")
    if target.exists():
        target.unlink()
    path.rename(target)
    return target


def source_fingerprint(url: str, timeout_s: float = 10.0) -> str | None:
    """What identifies the current version of a month at the source, or None if it is not there.

    HTTP: ETag / Last-Modified / Content-Length from a HEAD request; files (paths, file://,
    other fsspec URLs): size and modification time.
    """
    if url.startswith(("http://", "https://")):
        request = urllib.request.Request(url, method="HEAD")
        try:
            with urllib.request.urlopen(request, timeout=timeout_s) as response:
                headers = response.headers
        except urllib.error.HTTPError as exc:
            if exc.code in (403, 404, 410):
                return None
            raise SourceUnavailableError(f"{url}: HTTP {exc.code} {exc.reason}") from exc
        except (urllib.error.URLError, socket.timeout, ConnectionError, http.client.HTTPException) as exc:
            raise SourceUnavailableError(f"{url}: {exc}") from exc
        parts = [headers.get("ETag"), headers.get("Last-Modified"), headers.get("Content-Length")]
        return "http:" + "|".join(p or "" for p in parts)
    path = UPath(url)
    if not path.exists():
        return None
    info = path.stat()
    return f"file:{info.st_size}|{getattr(info, 'st_mtime_ns', None) or info.st_mtime}"
