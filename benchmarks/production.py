"""One flights month and the 12 flight months, production profile vs the embedded default.

    python -m benchmarks.production [--workers 2]

Production: a throwaway local stack (ml_assets/local_stack.py: PostgreSQL instance, S3 server, MLflow
server, Celery workers); embedded: a throwaway DAGSTER_HOME and data folder. Both run the
nyc_flights training job through `dagster job execute` (a run process; steps in it, or on the
workers): 2013-01 alone, then 2013-01..2013-12 as one range run, each on a fresh store.
"""

from __future__ import annotations

import argparse
import json
import subprocess
import sys
import tempfile
import time
import uuid
from pathlib import Path

from benchmarks.runner import throwaway_env
from ml_assets.local_stack import REPO_ROOT, Stack, StackSettings

DAGSTER = str(Path(sys.executable).with_name("dagster"))


def timed_run(env: dict[str, str], first: str, last: str) -> float:
    tags = {"dagster/asset_partition_range_start": first, "dagster/asset_partition_range_end": last}
    started = time.perf_counter()
    done = subprocess.run(
        [
            DAGSTER,
            "job",
            "execute",
            "-m",
            "ml_assets.definitions",
            "-j",
            "nyc_flights_training",
            "--tags",
            json.dumps(tags),
        ],
        cwd=REPO_ROOT,
        env=env,
        capture_output=True,
        text=True,
    )
    if done.returncode != 0:
        raise SystemExit(f"{first}..{last} failed:\n{done.stdout[-3000:]}")
    return time.perf_counter() - started


def embedded(first: str, last: str) -> float:
    with tempfile.TemporaryDirectory() as tmp:
        return timed_run(throwaway_env(Path(tmp)), first, last)


def production(first: str, last: str, workers: int) -> float:
    with tempfile.TemporaryDirectory() as tmp:
        stack = Stack(StackSettings(folder=Path(tmp), prefix=f"mlab_{uuid.uuid4().hex[:8]}", workers=workers))
        try:
            stack.start()
            return timed_run(stack.settings.env(), first, last)
        finally:
            stack.stop()


def main(argv: list[str] | None = None) -> None:
    parser = argparse.ArgumentParser(
        description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter
    )
    parser.add_argument("--workers", type=int, default=2)
    args = parser.parse_args(argv)
    for label, (first, last) in {
        "one month (2013-01)": ("2013-01", "2013-01"),
        "12 months, one range run": ("2013-01", "2013-12"),
    }.items():
        local, prod = embedded(first, last), production(first, last, args.workers)
        print(
            f"{label:<26} embedded {local:5.1f} s   production ({args.workers} Celery workers) {prod:5.1f} s   "
            f"({prod / local:.2f}x)",
            flush=True,
        )


if __name__ == "__main__":
    main()
