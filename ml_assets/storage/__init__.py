"""Where outputs live: the data folder (any fsspec URL) and the IO managers that write under it atomically."""

from __future__ import annotations

import dagster as dg
from pydantic import Field


class ProjectStorage(dg.ConfigurableResource):
    """The data folder (any fsspec URL): warehouse, reports, download cache and the embedded MLflow store."""

    data_dir: str = Field(description="Root of every output; ML_ASSETS_DATA_DIR, default data/ in the repo.")

    def path(self, *parts: str) -> str:
        return "/".join([self.data_dir.rstrip("/"), *parts])

    @property
    def cache_dir(self) -> str:
        return self.path("source_cache")

    def scores(self, pipeline: str):
        """The pipeline's cached scores (cross-validation folds, walk-forward scores): see score_cache.py."""
        from ml_assets.storage.score_cache import ScoreCache

        return ScoreCache(self.path("score_cache", pipeline))
