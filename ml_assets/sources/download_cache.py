"""Files a source reads by URL or path, kept in the pipeline's cache folder once per source version: a month's TLC
file, a table's CSV. A sidecar `<file>.source` records the version (ETag, Last-Modified, size; a file's size and
modification time) the copy was taken at, so a changed source is fetched again and an unchanged one is not."""

from __future__ import annotations

from upath import UPath

from ml_assets.sources import http
from ml_assets.sources.base import SourceUnavailableError


def _cache_paths(cache_dir: UPath, url: str) -> tuple[UPath, UPath]:
    dest = cache_dir / url.rstrip("/").rsplit("/", 1)[-1]
    return dest, dest.with_name(dest.name + ".source")


def cached_fingerprint(cache_dir: UPath, url: str) -> str | None:
    """The source fingerprint the cached copy of `url` was downloaded at, if recorded."""
    _, marker = _cache_paths(cache_dir, url)
    return marker.read_text() if marker.exists() else None


def cached_month_file(cache_dir: UPath, url: str, month: str, timeout_s: float = 60.0) -> UPath:
    """The local copy of a month, downloaded once per source version.

    A sidecar `<file>.source` records the source fingerprint the copy was taken from; when
    the source answers with another one the month is downloaded again. When the source
    cannot be asked (offline), the cached copy is used as it is.
    """
    dest, marker = _cache_paths(cache_dir, url)
    try:
        current = source_fingerprint(url, timeout_s)
    except SourceUnavailableError:
        current = None
    if dest.exists() and (current is None or (marker.exists() and marker.read_text() == current)):
        return dest
    http.download(url, dest, month, timeout_s)
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
    if http.is_http(url):
        return http.head_fingerprint(url, timeout_s)
    path = UPath(url)
    if not path.exists():
        return None
    info = path.stat()
    return f"file:{info.st_size}|{getattr(info, 'st_mtime_ns', None) or info.st_mtime}"
