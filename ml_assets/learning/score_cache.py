"""Scores that cost model fits, kept by what they were computed from, so they are computed once.

A nested cross-validation (about 1,000 fits for iris) and a walk-forward score (one boosted-trees fit on up to
six months of flights) depend only on the rows, the pipeline's declared model (features, estimator, search
space, baselines, evaluation) and the library versions. Their key hashes all of those, so a changed month, a
changed search space or an upgraded scikit-learn is a miss and is computed afresh; nothing is ever invalidated
by hand. Entries are small JSON files under `<data_dir>/score_cache/<pipeline>/`, written in one piece
(`put_bytes`); one that cannot be read is a miss, never an error.

The walk-forward fits themselves are kept the same way (`fit-<key>.joblib`, about 0.5 MB for six months of
flights), under the same key parts: a re-run over unchanged months reads each month's model instead of fitting it
again, and the backtest reads the fits the model step made. The folder can be
deleted at any time; that only costs the fits again.
"""

from __future__ import annotations

import hashlib
import json
from typing import TYPE_CHECKING, Any

from ml_assets.files import is_local, put_bytes

if TYPE_CHECKING:
    from upath import UPath

# bump when code below the specs changes what a cached score or fit would be (a metric, a split, a fit, an input)
SCORE_CODE_VERSION = "scores-v1"


def library_versions() -> str:
    import numpy
    import pandas
    import sklearn

    return f"sklearn={sklearn.__version__},pandas={pandas.__version__},numpy={numpy.__version__},{SCORE_CODE_VERSION}"


def cache_key(*parts: Any) -> str:
    """A hash of JSON-able parts (specs dumped with `model_dump(mode="json")`, frame fingerprints, month names)."""
    text = json.dumps([library_versions(), *parts], sort_keys=True, default=str)
    return hashlib.sha256(text.encode()).hexdigest()[:32]


def frame_fingerprint(frame) -> str:
    """A content hash of a frame: equal data gives an equal data version, so nothing cascades."""
    import pandas as pd

    digest = hashlib.sha256(pd.util.hash_pandas_object(frame, index=False).to_numpy().tobytes())
    digest.update(",".join(f"{c}:{t}" for c, t in frame.dtypes.astype(str).items()).encode())
    return digest.hexdigest()[:16]


class ScoreCache:
    """One pipeline's cached scores; `root` None keeps nothing (every lookup a miss)."""

    def __init__(self, root: str | None):
        self.root = root
        self.hits = 0
        self.misses = 0

    def _path(self, kind: str, key: str, suffix: str = ".json") -> UPath:
        from upath import UPath

        return UPath(self.root) / f"{kind}-{key}{suffix}"

    def get(self, kind: str, key: str) -> Any | None:
        if self.root is None:
            self.misses += 1
            return None
        path = self._path(kind, key)
        try:
            value = json.loads(path.read_bytes())["value"]
        except (FileNotFoundError, ValueError, KeyError, TypeError):
            self.misses += 1
            return None
        self.hits += 1
        return value

    def put(self, kind: str, key: str, value: Any) -> None:
        if self.root is None:
            return
        self._write(self._path(kind, key), json.dumps({"value": value}).encode())

    @staticmethod
    def _write(path: UPath, data: bytes) -> None:
        if is_local(path):  # an object store has no folders to make
            path.parent.mkdir(parents=True, exist_ok=True)
        put_bytes(path, data)

    def get_fit(self, key: str) -> Any | None:
        """The fitted object stored under `key`, or None: also for one that cannot be loaded (torn, or pickled by
        classes that have changed since), which is fitted again, never an error."""
        import io

        import joblib

        if self.root is None:
            return None
        try:
            data = self._path("fit", key, ".joblib").read_bytes()
        except FileNotFoundError:
            return None
        try:
            return joblib.load(io.BytesIO(data))
        except Exception:  # noqa: BLE001 (unpickling raises anything: EOFError, UnpicklingError, AttributeError, ...)
            return None

    def keep_fit(self, key: str, fitted: Any) -> Any:
        """Stores `fitted` under `key` and returns it as read back from what was stored: a fit made now and the same
        fit read in a later run are then stored byte for byte alike by the model's IO manager (a fresh fit pickles a
        little differently from its reloaded copy, 463,404 vs 463,644 bytes for a month of flights)."""
        import io

        import joblib

        if self.root is None:
            return fitted
        buffer = io.BytesIO()
        joblib.dump(fitted, buffer)
        self._write(self._path("fit", key, ".joblib"), buffer.getvalue())
        return joblib.load(io.BytesIO(buffer.getvalue()))

    def remember(self, kind: str, key: str, compute) -> Any:
        """The cached value for `key`, else `compute()` stored under it."""
        value = self.get(kind, key)
        if value is None:
            value = compute()
            self.put(kind, key, value)
        return value

    def summary(self) -> str:
        return f"{self.hits} cached, {self.misses} computed"
