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
    def reports_dir(self) -> str:
        """Where the report IO manager stores reports (project_resources.build_resources)."""
        return self.path("reports")

    def stored_report(self, asset_path: list[str], partition: str | None) -> dict:
        """A report as the report IO manager stored it: <reports>/<asset key path>[/<partition>].json."""
        import json

        from upath import UPath

        name = "/".join(asset_path) + (f"/{partition}" if partition else "")
        with UPath(f"{self.reports_dir}/{name}.json").open("rb") as handle:
            return json.loads(handle.read())

    @property
    def cache_dir(self) -> str:
        return self.path("source_cache")

    def scores(self, pipeline: str):
        """The pipeline's cached scores (cross-validation folds, walk-forward scores): see score_cache.py."""
        from ml_assets.learning.score_cache import ScoreCache

        return ScoreCache(self.path("score_cache", pipeline))
