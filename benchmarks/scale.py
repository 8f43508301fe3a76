"""How the cost of a user's big table grows: rows against wall seconds and peak memory.

    python3 dev.py bench scale                      # 1M, 3M and 10M rows (10M takes long before the scale work)
    python3 dev.py bench scale --rows 100000 1000000

    python3 dev.py bench scale --shape churn_csv     # another table: a CSV, a two-class text label, nothing declared

For each size: a deterministic generated table, by `--shape`:
- `regression` (the default): five numeric columns, two text columns, one of 300 values, and a non-linear target,
  written as Parquet, a table regression with boosted trees and `encoding: ordinal` declared;
- `churn_csv`: six numeric columns (one with gaps), a count, a 300-value and a 4-value text column (with gaps), a
  boolean and a two-class text label ("yes"/"no"), written as CSV, a classification with boosted trees and nothing
  else declared (every column an input, text as categories, the default encoding);
then, each in a fresh process,
- the pipeline: that YAML, every asset
  materialized (raw data, features, model, evaluation report, champion, predictions) by `dagster asset materialize`
  as a user runs it, with the project's executor (`--executor`: in_process by default, a run's steps in one
  process; multiprocess, a process per step), the YAML's other settings at their defaults;
- the floor: a plain script that reads the same file, fits the same estimator on the same four fifths and scores
  the held-out fifth.
Printed: rows, seconds and peak RSS (the largest process: the run's, or its largest step's) of each, and the
ratios. No assertion: a benchmark shows figures.
"""

from __future__ import annotations

import argparse
import json
import subprocess
import sys
import tempfile
import time
from pathlib import Path

from benchmarks import yardstick
from benchmarks.runner import REPO_ROOT, ratio

CATEGORIES = 300

PIPELINE_YAML = """
type: ml_assets.components.TrainingPipeline
attributes:
  name: big_table
  description: A generated table of {rows} rows, for the scale benchmark.
  task: regression
  source:
    kind: parquet
    path: {path}
  target:
    column: y
  features:
    numeric: [x1, x2, x3, x4, x5]
    categorical: [city, band]
    encoding: ordinal
  estimator:
    kind: hist_gradient_boosting
"""

# the end of every plain script: its seconds, its score (`figures`) and its peak RSS, as one JSON line
FLOOR_REPORT = """
import json, resource
usage = resource.getrusage
peak_mb = max(usage(resource.RUSAGE_SELF).ru_maxrss, usage(resource.RUSAGE_CHILDREN).ru_maxrss) / 1024
print(json.dumps({"seconds": time.perf_counter() - began, **figures, "peak_mb": peak_mb}))
"""

FLOOR = (
    """
import sys, time
import pandas as pd
from sklearn.compose import ColumnTransformer
from sklearn.ensemble import HistGradientBoostingRegressor
from sklearn.metrics import root_mean_squared_error
from sklearn.model_selection import train_test_split
from sklearn.pipeline import make_pipeline
from sklearn.preprocessing import OrdinalEncoder

began = time.perf_counter()
frame = pd.read_parquet(sys.argv[1])
X, y = frame.drop(columns=["y"]), frame["y"].to_numpy()
train, test = train_test_split(range(len(y)), test_size=0.2, random_state=42)
encode = ColumnTransformer(
    [("text", OrdinalEncoder(handle_unknown="use_encoded_value", unknown_value=-1), ["city", "band"])],
    remainder="passthrough",
)
model = make_pipeline(encode, HistGradientBoostingRegressor(random_state=42))
model.fit(X.iloc[train], y[train])
rmse = root_mean_squared_error(y[test], model.predict(X.iloc[test]))
figures = {"rmse": rmse}
"""
    + FLOOR_REPORT
)

CHURN_YAML = """
type: ml_assets.components.TrainingPipeline
attributes:
  name: churn
  description: A generated CSV of {rows} customers, for the scale benchmark.
  task: classification
  source:
    kind: table
    path: {path}
  target:
    column: churned
  estimator:
    kind: hist_gradient_boosting
"""

CHURN_FLOOR = (
    """
import sys, time
import numpy as np
import pandas as pd
from sklearn.compose import ColumnTransformer
from sklearn.ensemble import HistGradientBoostingClassifier
from sklearn.metrics import accuracy_score
from sklearn.model_selection import train_test_split
from sklearn.pipeline import make_pipeline
from sklearn.preprocessing import OrdinalEncoder

began = time.perf_counter()
frame = pd.read_csv(sys.argv[1], engine="pyarrow")
X, y = frame.drop(columns=["churned"]), frame["churned"].to_numpy()
train, test = train_test_split(range(len(y)), test_size=0.2, random_state=42, stratify=y)
text = ["shop", "channel"]
codes = OrdinalEncoder(
    handle_unknown="use_encoded_value", unknown_value=np.nan, encoded_missing_value=np.nan, max_categories=255
)
encode = ColumnTransformer([("text", codes, text)], remainder="passthrough")
trees = HistGradientBoostingClassifier(random_state=42, categorical_features=list(range(len(text))))
model = make_pipeline(encode, trees)
model.fit(X.iloc[train], y[train])
accuracy = accuracy_score(y[test], model.predict(X.iloc[test]))
figures = {"accuracy": accuracy}
"""
    + FLOOR_REPORT
)

PIPELINE = """
import json, os, resource, subprocess, sys, time
from pathlib import Path

import dagster as dg

defs_yaml, data, home, executor = Path(sys.argv[1]), Path(sys.argv[2]), Path(sys.argv[3]), sys.argv[4]
home.mkdir(parents=True, exist_ok=True)
(home / "dagster.yaml").write_text("telemetry:\\n  enabled: false\\n")
code = home / "big_table_code.py"
code.write_text(  # the pipeline's definitions with the executor the project would give it
    "from pathlib import Path\\nimport dagster as dg\\nfrom ml_assets.local import load_yaml_pipeline\\n"
    f"pipeline = load_yaml_pipeline(Path({str(defs_yaml)!r}), Path({str(data)!r}))\\n"
    f"defs = dg.Definitions.merge(pipeline.defs(), dg.Definitions(executor=dg.{executor}_executor))\\n"
)
began = time.perf_counter()
done = subprocess.run(  # as a user runs it: Dagster's CLI
    [str(Path(sys.executable).with_name("dagster")), "asset", "materialize", "-f", str(code), "--select", "*"],
    env={**os.environ, "DAGSTER_HOME": str(home)},
    capture_output=True,
    text=True,
)
seconds = time.perf_counter() - began
if done.returncode != 0:
    sys.exit(done.stderr[-3000:])
with dg.DagsterInstance.from_config(str(home)) as instance:
    (run,) = instance.get_runs(limit=1)
    steps = {
        e.dagster_event.step_key: e.dagster_event.event_specific_data.duration_ms / 1000
        for e in instance.all_logs(run.run_id, of_type=dg.DagsterEventType.STEP_SUCCESS)
    }
# the largest process among the CLI, its run and its steps (each step's process is waited for by its parent)
peak_mb = resource.getrusage(resource.RUSAGE_CHILDREN).ru_maxrss / 1024
figures = {"seconds": seconds, "success": run.status == dg.DagsterRunStatus.SUCCESS, "steps": steps, "peak_mb": peak_mb}
print(json.dumps(figures))
"""


def generate(rows: int, path: Path, seed: int = 7) -> None:
    """Five numeric inputs, a 300-value and a 10-value text column, a non-linear target with noise."""
    import numpy as np
    import pandas as pd

    rng = np.random.default_rng(seed)
    x = rng.normal(size=(rows, 5))
    city = rng.integers(0, CATEGORIES, size=rows)
    band = rng.integers(0, 10, size=rows)
    effect = np.sin(np.arange(CATEGORIES) * 0.7) * 3
    y = (
        np.sin(x[:, 0] * 2) * 4
        + x[:, 1] ** 2
        + np.where(x[:, 2] > 0, 3 * x[:, 3], -x[:, 3])
        + 0.5 * x[:, 4]
        + effect[city]
        + band * 0.3
        + rng.normal(scale=1.0, size=rows)
    )
    frame = pd.DataFrame({f"x{i + 1}": x[:, i] for i in range(5)})
    frame["city"] = pd.Series([f"city_{c:03d}" for c in range(CATEGORIES)]).iloc[city].to_numpy()
    frame["band"] = pd.Series([f"band_{b}" for b in range(10)]).iloc[band].to_numpy()
    frame["y"] = y
    frame.to_parquet(path, index=False)


def generate_churn(rows: int, path: Path, seed: int = 3) -> None:
    """Six numbers (one with 5% gaps), a count, a 300-value and a 4-value text column (2% gaps), a boolean, and a
    yes/no label from a non-linear score with logistic noise; as CSV."""
    import numpy as np
    import pandas as pd

    rng = np.random.default_rng(seed)
    frame = pd.DataFrame({f"n{i}": rng.normal(size=rows) for i in range(6)})
    frame["count"] = rng.integers(0, 50, size=rows)
    shop = rng.integers(0, CATEGORIES, size=rows)
    frame["shop"] = pd.Series([f"shop_{c}" for c in range(CATEGORIES)]).iloc[shop].to_numpy()
    channels = pd.Series(["web", "app", "store", "phone"])
    frame["channel"] = channels.iloc[rng.integers(0, 4, size=rows)].to_numpy()
    frame["member"] = rng.random(rows) < 0.3
    score = (
        np.sin(frame["n0"] * 2)
        + frame["n1"] * frame["n2"]
        + 0.05 * frame["count"]
        + np.sin(shop * 0.7)
        + frame["member"] * 0.5
    )
    frame["churned"] = np.where(score + rng.logistic(size=rows) > 0.5, "yes", "no")
    frame.loc[rng.random(rows) < 0.05, "n3"] = np.nan
    frame.loc[rng.random(rows) < 0.02, "channel"] = None
    frame.to_csv(path, index=False)


# what varies by --shape: the generator, the file it writes, the pipeline's YAML and the plain script
SHAPES = {
    "regression": (generate, "table.parquet", PIPELINE_YAML, FLOOR),
    "churn_csv": (generate_churn, "table.csv", CHURN_YAML, CHURN_FLOOR),
}


def timed(script: str, *args: str) -> dict:
    """A fresh process running `script`: the figures it prints (its peak RSS, of itself or its largest child, among
    them) and the wall seconds."""
    began = time.perf_counter()
    done = subprocess.run(
        [sys.executable, "-c", script, *args], cwd=REPO_ROOT, capture_output=True, text=True
    )
    wall = time.perf_counter() - began
    if done.returncode != 0:
        return {
            "error": done.stderr.strip().splitlines()[-1] if done.stderr.strip() else "failed",
            "wall": wall,
        }
    return {**json.loads(done.stdout.strip().splitlines()[-1]), "wall": wall}


def default_executor() -> str:
    """What the project's resources give a pipeline: ML_ASSETS_EXECUTOR, else ProjectResources' default."""
    import os

    from ml_assets.components.project_resources import ProjectResources

    return os.environ.get("ML_ASSETS_EXECUTOR") or ProjectResources.model_fields["executor"].default


def main(argv: list[str]) -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--rows", type=int, nargs="+", default=[1_000_000, 3_000_000, 10_000_000])
    parser.add_argument(
        "--executor",
        choices=["in_process", "multiprocess"],
        default=default_executor(),
        help="the project's (ML_ASSETS_EXECUTOR, in_process unless set): a run's steps in one process, or one each",
    )
    parser.add_argument(
        "--shape",
        choices=sorted(SHAPES),
        default="regression",
        help="the generated table (see the docstring)",
    )
    args = parser.parse_args(argv)
    generate_table, file_name, pipeline_yaml, floor_script = SHAPES[args.shape]
    results = []
    for rows in sorted(args.rows):
        with tempfile.TemporaryDirectory(prefix="ml_assets-scale-") as tmp:
            table, defs = Path(tmp) / file_name, Path(tmp) / "defs.yaml"
            generate_table(rows, table)
            defs.write_text(pipeline_yaml.format(rows=rows, path=table))
            floor = timed(floor_script, str(table))
            home = Path(tmp) / "dagster_home"
            ours = timed(PIPELINE, str(defs), str(Path(tmp) / "data"), str(home), args.executor)
            results.append({"rows": rows, "floor": floor, "pipeline": ours})
            print(json.dumps(results[-1], default=str), flush=True)
    print(f"\nshape: {args.shape}; executor: {args.executor}; {yardstick.line()}", end="")
    print(
        f"\n{'rows':>11}  {'pipeline s':>10}  {'floor s':>8}  {'ratio':>6}  {'pipeline MB':>11}  {'floor MB':>8}"
    )
    for r in results:
        ours, floor = r["pipeline"], r["floor"]
        if "error" in ours or "error" in floor:
            print(f"{r['rows']:>11,}  failed: {ours.get('error') or floor.get('error')}")
            continue
        print(
            f"{r['rows']:>11,}  {ours['wall']:>10.1f}  {floor['wall']:>8.1f}  {ratio(ours['wall'], floor['wall']):>6}  "
            f"{ours['peak_mb']:>11.0f}  {floor['peak_mb']:>8.0f}"
        )
    for r in results:
        steps = r["pipeline"].get("steps", {})
        slowest = sorted(steps.items(), key=lambda kv: -kv[1])[:3]
        print(
            f"  {r['rows']:,} rows, slowest steps: "
            + ", ".join(f"{k.split('__')[-1]} {v:.1f} s" for k, v in slowest)
        )
    first = results[0]
    for r in results[1:]:
        if "error" in r["pipeline"] or "error" in first["pipeline"]:
            continue
        grow = r["pipeline"]["wall"] / first["pipeline"]["wall"]
        print(f"  {r['rows'] / first['rows']:.0f}x the rows: {grow:.1f}x the pipeline's time")
    return 0


if __name__ == "__main__":
    sys.exit(main(sys.argv[1:]))
