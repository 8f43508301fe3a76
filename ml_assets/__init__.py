"""ml_assets: ML training pipelines as Dagster software-defined assets."""
