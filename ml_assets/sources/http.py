"""HTTP through one `requests` session: fingerprints from HEAD, downloads streamed atomically.

Retry semantics live in the error types: `SourceUnavailableError` (network faults, 5xx, short
reads) is retried by the asset's RetryPolicy; `MonthNotAvailableError` (403/404/410: the TLC's
CDN answers 403 for a month it has not published) is not, as no retry publishes a file.
"""

from __future__ import annotations

import functools
import uuid
from collections.abc import Iterable
from typing import IO, TYPE_CHECKING

from upath import UPath

from ml_assets.sources.base import MonthNotAvailableError, SourceUnavailableError

if TYPE_CHECKING:
    import requests

CHUNK_BYTES = 1 << 20
NOT_PUBLISHED = (403, 404, 410)


def is_http(url: str) -> bool:
    return url.startswith(("http://", "https://"))


@functools.lru_cache(maxsize=1)
def session() -> requests.Session:
    """One pooled session per process; retries are the asset's RetryPolicy, not the transport's."""
    import requests  # imported on first use: the code location loads without it

    s = requests.Session()
    s.headers["User-Agent"] = "ml_assets (+https://github.com/ml-assets)"
    return s


def head_fingerprint(url: str, timeout_s: float) -> str | None:
    """ETag, Last-Modified and Content-Length of `url`; None when the source does not have it."""
    import requests

    try:
        response = session().head(url, timeout=timeout_s, allow_redirects=True)
    except requests.RequestException as exc:
        raise SourceUnavailableError(f"{url}: {exc}") from exc
    if response.status_code in NOT_PUBLISHED:
        return None
    if response.status_code >= 400:
        raise SourceUnavailableError(f"{url}: HTTP {response.status_code} {response.reason}")
    h = response.headers
    return "http:" + "|".join(h.get(k) or "" for k in ("ETag", "Last-Modified", "Content-Length"))


def write_stream_atomically(
    chunks: Iterable[bytes], dest: UPath, expected_bytes: int | None, label: str
) -> int:
    """Stream into a temp file beside `dest`, then rename: `dest` is either whole or absent."""
    tmp = dest.with_name(f".{dest.name}.{uuid.uuid4().hex}.part")
    written = 0
    try:
        with tmp.open("wb") as out:
            for chunk in chunks:
                out.write(chunk)
                written += len(chunk)
        if expected_bytes is not None and written != expected_bytes:
            raise SourceUnavailableError(f"{label}: short read, got {written} of {expected_bytes} bytes")
        tmp.rename(dest)
    finally:
        if tmp.exists():
            tmp.unlink()
    return written


def _file_chunks(handle: IO[bytes]) -> Iterable[bytes]:
    while chunk := handle.read(CHUNK_BYTES):
        yield chunk


def download(url: str, dest: UPath, month: str, timeout_s: float = 60.0) -> int:
    """Fetch `url` (HTTP or any fsspec path) to `dest` atomically; returns the byte count."""
    import requests

    dest.parent.mkdir(parents=True, exist_ok=True)
    label = f"month {month}: {url}" if month else url
    if not is_http(url):
        source = UPath(url)
        if not source.exists():
            raise MonthNotAvailableError(month, url, "no such file at the source")
        with source.open("rb") as handle:
            return write_stream_atomically(_file_chunks(handle), dest, source.stat().st_size, label)
    try:
        with session().get(url, timeout=timeout_s, stream=True) as response:
            if response.status_code in NOT_PUBLISHED:
                raise MonthNotAvailableError(month, url, f"HTTP {response.status_code}: month not published")
            if response.status_code >= 400:
                raise SourceUnavailableError(f"{label}: HTTP {response.status_code} {response.reason}")
            length = response.headers.get("Content-Length")
            # Content-Length counts encoded bytes; only an unencoded body can be checked against it
            expected = int(length) if length and not response.headers.get("Content-Encoding") else None
            return write_stream_atomically(response.iter_content(CHUNK_BYTES), dest, expected, label)
    except requests.RequestException as exc:
        raise SourceUnavailableError(f"{label}: {exc}") from exc
