"""What each `mlflow.sklearn.log_model` option costs for one flights month's model.

    python -m benchmarks.mlflow_logging [--repeat 3]

The model asset logs skops format (safe to load), a signature, an input example, pinned pip
requirements, the ml_assets code and a registered version. Each line adds one option to the
previous line's (fastest of --repeat), on an embedded SQLite store in a throwaway folder.
"""

from __future__ import annotations

import argparse
import logging
import tempfile
import time
from pathlib import Path


def main(argv: list[str] | None = None) -> None:
    parser = argparse.ArgumentParser(
        description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter
    )
    parser.add_argument("--repeat", type=int, default=3)
    args = parser.parse_args(argv)
    logging.getLogger("mlflow").setLevel(logging.ERROR)

    import mlflow
    import mlflow.sklearn
    from mlflow.models import infer_signature

    import ml_assets
    from ml_assets.local import load_pipeline
    from ml_assets.sources.flights import normalize_flights, read_flights
    from ml_assets.tracking import _pip_requirements, skops_types_of

    task = load_pipeline("nyc_flights", tempfile.mkdtemp(prefix="bench-")).plan.task
    features = task.features(normalize_flights(read_flights(), "2013-01"), "2013-01").value
    started = time.perf_counter()
    model = task.fit(features).model
    fit_s = time.perf_counter() - started
    example = task.xy(features)[0].head(5)
    trusted = skops_types_of(model)
    signature = infer_signature(example, model.predict(example))
    steps = [
        (
            "cloudpickle, pip requirements inferred (MLflow's default)",
            {"serialization_format": "cloudpickle"},
        ),
        ("skops", {"skops_trusted_types": trusted}),
        ("+ signature", {"signature": signature}),
        ("+ input example", {"input_example": example}),
        ("+ pinned pip requirements (no inference)", {"pip_requirements": list(_pip_requirements())}),
        ("+ code_paths (the ml_assets package)", {"code_paths": [str(Path(ml_assets.__file__).parent)]}),
        ("+ registered version (what the model asset logs)", {"registered_model_name": "bench"}),
    ]
    with tempfile.TemporaryDirectory() as tmp:
        mlflow.set_tracking_uri(f"sqlite:///{tmp}/mlflow.db")
        experiment = mlflow.create_experiment("bench", artifact_location=f"{tmp}/artifacts")
        print(f"one flights month's model (fitted in {fit_s:.2f} s); log_model, fastest of {args.repeat}:")
        options: dict = {}
        for label, added in steps:
            options = {k: v for k, v in options.items() if k != "serialization_format"} | added
            best = float("inf")
            for _ in range(args.repeat):
                with mlflow.start_run(experiment_id=experiment):
                    began = time.perf_counter()
                    mlflow.sklearn.log_model(model, name="model", **options)
                    best = min(best, time.perf_counter() - began)
            print(f"  {label:<56} {best:6.3f} s")


if __name__ == "__main__":
    main()
