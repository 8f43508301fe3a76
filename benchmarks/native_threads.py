"""Why each step limits scikit-learn's native threads (orchestration/compute.py): the flights' boosted trees fitted
on 1, 3 and 6 months with one OpenMP thread per CPU (scikit-learn's default) and with one thread, on a quiet
machine and beside busy loops (1 and 4 per CPU: a machine running other steps, a browser, a compiler).

    python3 dev.py bench native_threads     (about 6 minutes on a 2-CPU machine)

Prints seconds per fit and the ratio default / one thread; the RMSE on the next month is the same either way.
"""

from __future__ import annotations

import os
import tempfile
import time
from pathlib import Path

import dagster as dg
import pandas as pd

from ml_assets.local import load_pipeline
from ml_assets.months import months_between
from ml_assets.processes import busy_cpus
from ml_assets.tasks.walk_forward import concat_months

MONTHS = months_between("2013-01", "2013-07")
WINDOWS = (1, 3, 6)


def fit_seconds(task, rows: pd.DataFrame, threads: int | None) -> float:
    from threadpoolctl import threadpool_limits

    with threadpool_limits(limits=threads):
        started = time.perf_counter()
        task.fit(rows)
        return time.perf_counter() - started


def main() -> None:
    import sklearn.utils._openmp_helpers  # noqa: F401  (the OpenMP runtime, so the limits reach it)

    with tempfile.TemporaryDirectory() as tmp:
        flights = load_pipeline("nyc_flights", Path(tmp) / "data")
        with dg.DagsterInstance.ephemeral() as instance:
            if not flights.materialize(
                instance, assets=["raw_data", "features"], months=(MONTHS[0], MONTHS[-1])
            ).success:
                raise SystemExit("building the flights' features failed")
        features = {m: pd.read_parquet(flights.warehouse("features") / f"{m}.parquet") for m in MONTHS}
    task = flights.plan.task
    print(f"{os.cpu_count()} CPUs; seconds per fit of the flights' model, months before {MONTHS[-1]}\n")
    print(
        "| machine | window | rows | default threads | 1 thread | default / 1 |\n|---|---:|---:|---:|---:|---:|"
    )
    for busy in (0, 1, 4):
        with busy_cpus(per_cpu=busy, limit_s=900) as load:
            if busy:
                time.sleep(5)  # the loops are running before the first fit
            for k in WINDOWS:
                rows = concat_months(features, MONTHS[-1 - k : -1])
                default, one = fit_seconds(task, rows, None), fit_seconds(task, rows, 1)
                label = "quiet" if not busy else f"{busy} busy loop(s) per CPU (load {load():.1f})"
                print(
                    f"| {label} | {k} | {len(rows):,} | {default:.1f} | {one:.1f} | {default / one:.1f}x |",
                    flush=True,
                )


if __name__ == "__main__":
    main()
