"""The pipelines under test, each run in a fresh process so its peak RSS is its own.

    python -m benchmarks.pipelines NAME '{"train": [...], "valid": "...", "color": "green"}'

prints one JSON line: seconds per stage, RMSE, rows, RSS after imports and at peak (MB).
NAME is `ours` (the functions the assets call), `course_lr` / `course_xgboost` (the MLOps
course script, re-implemented faithfully) or `floor` (pyarrow reading the needed columns).
"""

from __future__ import annotations

import json
import re
import resource
import sys
import time
from contextlib import contextmanager


def rss_mb() -> float:
    with open("/proc/self/status") as status:
        for line in status:
            if line.startswith("VmRSS:"):
                return int(line.split()[1]) / 1024
    return float("nan")


def peak_rss_mb() -> float:
    return resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024  # Linux: kilobytes


def month_of(path: str) -> str:
    found = re.search(r"(\d{4}-\d{2})", path)
    if not found:
        raise SystemExit(f"cannot tell the month from the file name {path!r} (want ..._YYYY-MM.parquet)")
    return found.group(1)


class Stages:
    def __init__(self):
        self.seconds: dict[str, float] = {}

    @contextmanager
    def __call__(self, name: str):
        start = time.perf_counter()
        yield
        self.seconds[name] = self.seconds.get(name, 0.0) + time.perf_counter() - start


def ours(train: list[str], valid: str, color: str) -> dict:
    """The nyc_taxi_green pipeline's own steps, through its task (what the features, model and evaluation_report
    assets call), on local files: read, clean, train, evaluate beside the declared course baseline."""
    import tempfile

    import pandas as pd
    from upath import UPath

    from ml_assets.local import load_pipeline
    from ml_assets.sources.taxi import read_taxi_month

    task = load_pipeline("nyc_taxi_green", tempfile.mkdtemp(prefix="bench-")).plan.task
    after_imports = rss_mb()
    stage = Stages()
    with stage("read"):
        raw_train = [read_taxi_month(UPath(path), color, month_of(path)) for path in train]
        raw_valid = read_taxi_month(UPath(valid), color, month_of(valid))
    with stage("features"):
        train_features = pd.concat(
            [task.features(raw, month_of(path)).value for raw, path in zip(raw_train, train, strict=True)],
            ignore_index=True,
        )
        valid_features = task.features(raw_valid, month_of(valid)).value
        del raw_train, raw_valid
    with stage("train"):  # as the model asset does: fit, then the training RMSE it logs to MLflow
        trained = task.train(train_features)
    with stage("evaluate"):  # as evaluation_report does: the validation month, the baselines beside it
        pair = {month_of(train[0]): train_features, month_of(valid): valid_features}
        evaluated = task.evaluate(
            trained.model, pair, month_of(valid), trained.train_metrics["rmse"], None, (None, None)
        )
    return {
        "seconds": stage.seconds,
        "rmse": evaluated.score,
        "train_rows": len(train_features),
        "valid_rows": len(valid_features),
        "after_imports_mb": after_imports,
    }


def _course_read_dataframe(path: str, color: str):
    """The course's read_dataframe, line for line (apply over timedeltas included)."""
    import pandas as pd

    prefix = "lpep" if color == "green" else "tpep"
    df = pd.read_parquet(path)
    df[f"{prefix}_dropoff_datetime"] = pd.to_datetime(df[f"{prefix}_dropoff_datetime"])
    df[f"{prefix}_pickup_datetime"] = pd.to_datetime(df[f"{prefix}_pickup_datetime"])
    df["duration"] = df[f"{prefix}_dropoff_datetime"] - df[f"{prefix}_pickup_datetime"]
    df["duration"] = df["duration"].apply(lambda td: td.total_seconds() / 60)
    df = df[(df.duration >= 1) & (df.duration <= 60)]
    categorical = ["PULocationID", "DOLocationID"]
    df[categorical] = df[categorical].astype(str)
    return df


def course(train: list[str], valid: str, color: str, model: str) -> dict:
    import numpy as np
    import pandas as pd
    from sklearn.feature_extraction import DictVectorizer
    from sklearn.linear_model import LinearRegression
    from sklearn.metrics import root_mean_squared_error

    if model == "xgboost":
        import xgboost as xgb

    after_imports = rss_mb()
    stage = Stages()
    with stage("read"):
        frames = [pd.read_parquet(path) for path in train]
        df_valid_raw = pd.read_parquet(valid)
    del frames, df_valid_raw  # the course reads inside read_dataframe; timed apart here, then read again
    read_only = stage.seconds.pop("read")
    with stage("features"):
        df_train = pd.concat([_course_read_dataframe(path, color) for path in train], ignore_index=True)
        df_val = _course_read_dataframe(valid, color)
        df_train["PU_DO"] = df_train["PULocationID"] + "_" + df_train["DOLocationID"]
        df_val["PU_DO"] = df_val["PULocationID"] + "_" + df_val["DOLocationID"]
        categorical, numerical = ["PU_DO"], ["trip_distance"]
        dv = DictVectorizer()
        X_train = dv.fit_transform(df_train[categorical + numerical].to_dict(orient="records"))
        X_val = dv.transform(df_val[categorical + numerical].to_dict(orient="records"))
        y_train, y_val = df_train["duration"].values, df_val["duration"].values
    # read_dataframe both reads and prepares; split its time by the measured read above
    stage.seconds["read"] = read_only
    stage.seconds["features"] -= read_only
    with stage("train"):
        if model == "xgboost":
            dtrain = xgb.DMatrix(X_train, label=y_train)
            dvalid = xgb.DMatrix(X_val, label=y_val)
            params = {
                "learning_rate": 0.09585355369315604,
                "max_depth": 30,
                "min_child_weight": 1.060597050922164,
                "objective": "reg:squarederror",  # the course's "reg:linear", renamed by XGBoost
                "reg_alpha": 0.018060244040060163,
                "reg_lambda": 0.011658731377023123,
                "seed": 42,
            }
            booster = xgb.train(
                params, dtrain, num_boost_round=30, evals=[(dvalid, "validation")], verbose_eval=False
            )
        else:
            lr = LinearRegression().fit(X_train, y_train)
    with stage("evaluate"):
        y_pred = booster.predict(dvalid) if model == "xgboost" else lr.predict(X_val)
        rmse = float(root_mean_squared_error(y_val, y_pred))
    return {
        "seconds": stage.seconds,
        "rmse": rmse,
        "train_rows": int(len(y_train)),
        "valid_rows": int(len(np.asarray(y_val))),
        "after_imports_mb": after_imports,
    }


def floor(train: list[str], valid: str, color: str) -> dict:
    import pyarrow.parquet as pq

    from ml_assets.sources.taxi import required_columns

    after_imports = rss_mb()
    stage = Stages()
    with stage("read"):
        tables = [pq.read_table(path, columns=required_columns(color)) for path in [*train, valid]]
    return {
        "seconds": stage.seconds,
        "rmse": None,
        "train_rows": sum(t.num_rows for t in tables[:-1]),
        "valid_rows": tables[-1].num_rows,
        "after_imports_mb": after_imports,
    }


def raw_month_mb(path: str) -> float:
    """In-memory size of a raw month as pandas holds it: every column, strings counted deeply."""
    import pandas as pd

    return float(pd.read_parquet(path).memory_usage(deep=True).sum()) / 2**20


PIPELINES = {
    "ours": ours,
    "course_lr": lambda train, valid, color: course(train, valid, color, "lr"),
    "course_xgboost": lambda train, valid, color: course(train, valid, color, "xgboost"),
    "floor": floor,
}


def main(argv: list[str]) -> None:
    name, args = argv[0], json.loads(argv[1])
    if name == "raw_month_mb":
        print(json.dumps({"raw_month_mb": raw_month_mb(args["path"])}))
        return
    result = PIPELINES[name](args["train"], args["valid"], args.get("color", "green"))
    result["seconds"]["total"] = sum(result["seconds"].values())
    result["peak_rss_mb"] = peak_rss_mb()
    print(json.dumps(result))


if __name__ == "__main__":
    main(sys.argv[1:])
