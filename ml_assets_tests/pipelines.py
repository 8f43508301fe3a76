"""Test helpers: a real pipeline from its defs.yaml (with overrides), materialized with real resources
(ml_assets.local)."""

from __future__ import annotations

import dagster as dg

from ml_assets.local import (  # noqa: F401 (the harness the tests share, kept in the package for benchmarks too)
    DEFS,
    EXAMPLES,
    REPO_ROOT,
    Pipeline,
    check_results,
    deep_merge,
    failure_messages,
    load_pipeline,
    load_yaml_pipeline,
    pipeline_attributes,
)


def materialization_metadata(result: dg.ExecuteInProcessResult, pipeline: str, asset: str) -> dict:
    """The metadata of the run's first materialization of `pipeline/asset`, whichever step recorded
    it (a step can also report an external asset: champion_model reports the champion_alias)."""
    key = dg.AssetKey([pipeline, asset])
    return next(
        e.materialization for e in result.get_asset_materialization_events() if e.asset_key == key
    ).metadata


def materialized(result: dg.ExecuteInProcessResult) -> list[str]:
    return sorted(e.asset_key.path[-1] for e in result.get_asset_materialization_events())


def requested(tick, checks: bool = False) -> set[tuple[str, str | None]]:
    """(asset key, partition) pairs an automation tick requested (or its asset checks with checks=True)."""
    found = set()
    for r in tick.results:
        if not r.true_subset.size or isinstance(r.key, dg.AssetCheckKey) != checks:
            continue
        partitions = (
            r.true_subset.expensively_compute_partition_keys() if r.true_subset.is_partitioned else [None]
        )
        found |= {(r.key.to_user_string(), p) for p in partitions}
    return found


def run_requested(pipeline: Pipeline, instance: dg.DagsterInstance, tick) -> list[dg.ExecuteInProcessResult]:
    """Do what the automation daemon would: one run per requested partition, oldest month first."""
    by_partition: dict[str | None, list[str]] = {}
    for key, partition in requested(tick):
        by_partition.setdefault(partition, []).append(key.split("/", 1)[1])
    results = []
    for partition in sorted(by_partition, key=lambda p: (p is None, p or "")):
        result = pipeline.materialize(instance, partition, assets=sorted(by_partition[partition]))
        assert result.success, failure_messages(result)
        results.append(result)
    return results
