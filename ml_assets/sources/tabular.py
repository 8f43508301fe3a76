"""Tabular sources: a dataset bundled with scikit-learn, or a CSV file by URL, path or bundled copy.

Each delivers the whole table (features and target) as a DataFrame; the pipeline's YAML says
which column is the target and which are features.
"""

from __future__ import annotations

import hashlib
import importlib.resources
import io
from pathlib import Path
from typing import TYPE_CHECKING

from upath import UPath

from ml_assets.sources import http
from ml_assets.sources.schema import SourceDataError, SourceUnavailableError

if TYPE_CHECKING:  # imported where used: the code location loads without them
    import pandas as pd

DATASETS_DIR = Path(__file__).resolve().parents[1] / "datasets"
# scikit-learn's loader and the CSV it reads (its own package data), per dataset name
SKLEARN_FILES = {"iris": "iris.csv", "wine": "wine_data.csv", "breast_cancer": "breast_cancer.csv"}


def sha256_of(data: bytes) -> str:
    return hashlib.sha256(data).hexdigest()


def sklearn_data_file(dataset: str) -> Path:
    return Path(str(importlib.resources.files("sklearn.datasets") / "data" / SKLEARN_FILES[dataset]))


def load_sklearn_dataset(dataset: str) -> pd.DataFrame:
    """The bundled dataset as one frame: feature columns plus `target` (class index)."""
    import sklearn.datasets

    loader = getattr(sklearn.datasets, f"load_{dataset}")
    return loader(as_frame=True).frame


def sklearn_fingerprint(dataset: str) -> str:
    return "sha256:" + sha256_of(sklearn_data_file(dataset).read_bytes())


def csv_location(url: str | None, bundled: str | None) -> str:
    """The URL or path to read: the configured one, else the copy bundled with ml_assets."""
    return url if url else str(DATASETS_DIR / bundled)


def read_csv_bytes(location: str, timeout_s: float) -> bytes:
    if http.is_http(location):
        import requests

        try:
            response = http.session().get(location, timeout=timeout_s)
        except requests.RequestException as exc:
            raise SourceUnavailableError(f"{location}: {exc}") from exc
        if response.status_code in http.NOT_PUBLISHED:
            raise SourceDataError("-", location, f"HTTP {response.status_code}: no such file")
        if response.status_code >= 400:
            raise SourceUnavailableError(f"{location}: HTTP {response.status_code} {response.reason}")
        return response.content
    path = UPath(location)
    if not path.exists():
        raise SourceDataError("-", location, "no such file")
    return path.read_bytes()


def parse_csv(data: bytes, location: str, columns: list[str] | None, na_values: list[str]) -> pd.DataFrame:
    """Parse a CSV (headerless when `columns` is given); a malformed file names its problem."""
    import pandas as pd

    try:
        frame = pd.read_csv(
            io.BytesIO(data), header=None if columns else "infer", names=columns, na_values=na_values or None
        )
    except (pd.errors.ParserError, UnicodeDecodeError, ValueError) as exc:
        raise SourceDataError("-", location, f"not a readable CSV file ({exc})") from exc
    if frame.empty:
        raise SourceDataError("-", location, "the file holds no rows")
    if columns and frame.iloc[:, -1].isna().all():
        raise SourceDataError("-", location, f"expected {len(columns)} columns per row, the last one is empty")
    return frame


def csv_fingerprint(location: str, timeout_s: float) -> str | None:
    """A content hash for files (small tables: cheaper than a false re-run); HEAD headers for HTTP."""
    if http.is_http(location):
        return http.head_fingerprint(location, timeout_s)
    path = UPath(location)
    if not path.exists():
        return None
    return "sha256:" + sha256_of(path.read_bytes())
