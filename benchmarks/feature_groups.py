"""What each group of the flights' inputs adds: mean RMSE over 2013-02..12, model of M-1 scored on M.

    python3 dev.py bench feature_groups     (about 5 minutes on a 2-CPU machine)

The 12 months' features are built once by the pipeline itself (raw_data and features, as `dev.py run` builds
them), then the shipped estimator is trained on each month's 3-month window with the inputs of each row of the
table below, adding one group at a time, and scored on the next month: the same protocol as the evaluation
reports, with the window fixed at 3 months so the groups, not the window choice, make the difference.
"""

from __future__ import annotations

import tempfile
from pathlib import Path

import dagster as dg
import pandas as pd

from ml_assets.local import load_pipeline
from ml_assets.months import months_between
from ml_assets.tasks.walk_forward import concat_months

MONTHS = months_between("2013-01", "2013-12")
STATIC = ["distance", "destination_bearing", "pickup_hour", "pickup_minute_of_day"]
GROUPS = [
    ("static: route, carrier, origin, distance, bearing, hour", []),
    (
        "+ recent air times on the route (3 h, 24 h, 7 d, flights in 24 h)",
        ["route_air_3h", "route_air_24h", "route_air_7d", "route_flights_24h"],
    ),
    ("+ recent air times into the destination (6 h)", ["destination_air_6h"]),
    (
        "+ minutes per mile from the same direction (3 h, 12 h)",
        ["sector_pace_3h", "sector_pace_12h", "sector_rate_3h"],
    ),
]
# Measured with a fourth group, since dropped from the YAML: "+ minutes per mile of all arrivals and from the origin
# (3 h)" (all_pace_3h, origin_rate_3h, all_rate_3h) gave 7.835 against 7.821 without it.


def built_features(data_dir: Path) -> dict[str, pd.DataFrame]:
    flights = load_pipeline("nyc_flights", data_dir)
    with dg.DagsterInstance.ephemeral() as instance:
        result = flights.materialize(
            instance, assets=["raw_data", "features"], months=(MONTHS[0], MONTHS[-1])
        )
        if not result.success:
            raise SystemExit("building the flights' features failed")
    return {m: pd.read_parquet(flights.warehouse("features") / f"{m}.parquet") for m in MONTHS}


def mean_rmse(
    features: dict[str, pd.DataFrame], numeric: list[str], data_dir: Path
) -> tuple[float, list[float]]:
    declared = load_pipeline("nyc_flights", data_dir).component.features
    aggregates = [a for a in declared.as_of.aggregates if a.name in numeric]
    used = {*declared.categorical, *numeric, *(column for a in aggregates for column in a.by)}
    task = load_pipeline(
        "nyc_flights",
        data_dir,
        features={
            "numeric": numeric,
            "derived": [d.model_dump(exclude_unset=True) for d in declared.derived if d.name in used],
            "as_of": {"aggregates": [a.model_dump(exclude_unset=True) for a in aggregates]}
            if aggregates
            else None,
        },
    ).plan.task
    scores = []
    for at in range(1, len(MONTHS)):
        window = MONTHS[max(0, at - 3) : at]
        model = task.fit(concat_months(features, window)).model
        scores.append(task.primary_metric_of(model, features[MONTHS[at]]))
    return sum(scores) / len(scores), scores


def main() -> None:
    with tempfile.TemporaryDirectory() as tmp:
        features = built_features(Path(tmp) / "data")
        numeric = list(STATIC)
        print(
            f"| inputs (3-month window) | mean RMSE {MONTHS[1]}..{MONTHS[-1]} | worst month |\n|---|---:|---:|"
        )
        for label, added in GROUPS:
            numeric += added
            mean, scores = mean_rmse(features, numeric, Path(tmp) / "data")
            print(f"| {label} | {mean:.3f} | {max(scores):.3f} |", flush=True)


if __name__ == "__main__":
    main()
