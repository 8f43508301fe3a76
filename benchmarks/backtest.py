"""The walk-forward backtest on real data, as docs/operations.md reports it.

    python3 dev.py bench backtest            # both: nyc_flights' 12 months, then the ten shared green-taxi months
    python3 dev.py bench backtest flights    # or one of them

Each pipeline runs for real (raw data -> ... -> champion gate -> backtest_report) into a throwaway
data folder and instance; the backtest's table and verdict are printed with the time taken.
The green-taxi months are not contiguous (2021-01..03, 2022-01..03, 2023-01..03, 2024-03): a
block's first month has no previous month to be evaluated on, so only the other six are gated.
"""

from __future__ import annotations

import json
import sys
import tempfile
import time
from pathlib import Path

import dagster as dg

from benchmarks.runner import SHARED_TLC
from ml_assets.local import Pipeline, failure_messages, load_pipeline

TRAINING = ["raw_data", "features", "model"]
GATE = ["evaluation_report", "champion_model"]
TAXI_BLOCKS = [("2021-01", "2021-03"), ("2022-01", "2022-03"), ("2023-01", "2023-03"), ("2024-03", "2024-03")]


def _run(pipeline: Pipeline, instance, **kwargs) -> None:
    result = pipeline.materialize(instance, **kwargs)
    if not result.success:
        raise SystemExit(f"{pipeline.name} failed: {failure_messages(result)[-3000:]}")


def flights(folder: Path, instance) -> Pipeline:
    pipeline = load_pipeline("nyc_flights", folder / "flights")
    _run(pipeline, instance, months=("2013-01", "2013-12"))  # the whole graph, backtest included
    return pipeline


def taxi(folder: Path, instance) -> Pipeline:
    pipeline = load_pipeline(
        "nyc_taxi_green",
        folder / "taxi",
        source={"url_template": f"file://{SHARED_TLC}/{{color}}_tripdata_{{month}}.parquet"},
        partitioning={"monthly": {"first_month": "2021-01", "last_month": "2024-03"}},
    )
    for first, last in TAXI_BLOCKS:
        _run(pipeline, instance, months=(first, last), assets=TRAINING)
    for first, last in TAXI_BLOCKS:
        if first != last:
            second = f"{first[:5]}{int(first[5:]) + 1:02d}"
            _run(pipeline, instance, months=(second, last), assets=GATE)
    _run(pipeline, instance, assets=["backtest_report"])
    return pipeline


def main(argv: list[str]) -> int:
    chosen = argv or ["flights", "taxi"]
    unknown = sorted(set(chosen) - {"flights", "taxi"})
    if unknown:
        print(f"unknown {unknown}: choose flights and/or taxi", file=sys.stderr)
        return 2
    for name in chosen:
        with (
            tempfile.TemporaryDirectory(prefix=f"ml_assets-backtest-{name}-") as folder,
            dg.DagsterInstance.ephemeral() as instance,
        ):
            began = time.perf_counter()
            pipeline = {"flights": flights, "taxi": taxi}[name](Path(folder), instance)
            report = json.loads(pipeline.report(None, "backtest_report").read_text())
            print(
                f"\n## {pipeline.name}: {len(report['months'])} months, {time.perf_counter() - began:.0f} "
                "s with the pipeline runs\n"
            )
            print(report["markdown"])
    return 0


if __name__ == "__main__":
    sys.exit(main(sys.argv[1:]))
