"""Run pipelines in fresh processes and print their figures side by side."""

from __future__ import annotations

import json
import os
import subprocess
import sys
from pathlib import Path

REPO_ROOT = Path(__file__).resolve().parent.parent
SHARED_TLC = Path(os.environ.get("ML_ASSETS_TLC_DIR", REPO_ROOT.parent / "shared" / "data" / "tlc"))
STAGES = ["read", "features", "train", "evaluate", "total"]


def run_pipeline(name: str, train: list[str], valid: str, color: str = "green", repeat: int = 1) -> dict:
    """The fastest of `repeat` fresh-process runs (peak RSS of that run)."""
    best = None
    for _ in range(repeat):
        out = subprocess.run(
            [
                sys.executable,
                "-m",
                "benchmarks.pipelines",
                name,
                json.dumps({"train": train, "valid": valid, "color": color}),
            ],
            cwd=REPO_ROOT,
            capture_output=True,
            text=True,
        )
        if out.returncode != 0:
            raise SystemExit(f"{name} failed:\n{out.stderr[-3000:]}")
        result = json.loads(out.stdout.strip().splitlines()[-1])
        if best is None or result["seconds"]["total"] < best["seconds"]["total"]:
            best = result
    return best


def raw_month_mb(path: str) -> float:
    out = subprocess.run(
        [sys.executable, "-m", "benchmarks.pipelines", "raw_month_mb", json.dumps({"path": path})],
        cwd=REPO_ROOT,
        capture_output=True,
        text=True,
        check=True,
    )
    return json.loads(out.stdout)["raw_month_mb"]


def print_table(results: dict[str, dict]) -> None:
    header = (
        f"{'pipeline':<16}"
        + "".join(f"{s + ' s':>11}" for s in STAGES)
        + f"{'peak RSS MB':>13}{'RSS-imports':>13}{'RMSE':>9}"
    )
    print(header)
    print("-" * len(header))
    for name, r in results.items():
        seconds = "".join(f"{r['seconds'].get(s, float('nan')):>11.3f}" for s in STAGES)
        rmse = f"{r['rmse']:>9.3f}" if r["rmse"] is not None else f"{'-':>9}"
        print(
            f"{name:<16}{seconds}{r['peak_rss_mb']:>13.0f}{r['peak_rss_mb'] - r['after_imports_mb']:>13.0f}{rmse}"
        )


def ratio(a: float, b: float) -> str:
    return f"{a / b:.2f}x" if b else "n/a"


def throwaway_env(folder: Path, dagster_yaml: str = "telemetry:\n  enabled: false\n") -> dict[str, str]:
    """A fresh DAGSTER_HOME and data folder under `folder`, and none of the caller's ML_ASSETS_/MLflow settings."""
    home = folder / "home"
    home.mkdir()
    (home / "dagster.yaml").write_text(dagster_yaml)
    env = {
        k: v for k, v in os.environ.items() if not k.startswith("ML_ASSETS_") and k != "MLFLOW_TRACKING_URI"
    }
    env.update(DAGSTER_HOME=str(home), ML_ASSETS_DATA_DIR=str(folder / "data"))
    return env
