#!/usr/bin/env python3
"""Set up and run ml_assets on a machine that has only Python 3.11 and pip.

    python3 dev.py run    # set up .venv, then materialize every month of the default data
    python3 dev.py test   # set up .venv (with dev extras), then run the test suite
    python3 dev.py ui     # set up .venv, then start `dagster dev` on http://127.0.0.1:3000
    python3 dev.py backfill 2013-01 2013-12   # queue an asset backfill; `dev.py ui` (its daemon) runs it
    python3 dev.py bench  # the benchmark against the course script (also: bench scaling, bench backfill)

Set-up happens once: a hash of pyproject.toml in .venv says whether it is current.
DAGSTER_HOME defaults to .dagster_home/ in the repo, so runs survive a restart.
Extra arguments go to the tool: `python3 dev.py test -k taxi`, `python3 dev.py run --months 2013-01 2013-02`.
"""

from __future__ import annotations

import hashlib
import json
import os
import subprocess
import sys
import venv
from pathlib import Path

ROOT = Path(__file__).resolve().parent
VENV = ROOT / ".venv"
BIN = VENV / ("Scripts" if os.name == "nt" else "bin")
STAMP = VENV / ".ml_assets-installed"
DAGSTER_HOME = ROOT / ".dagster_home"
QUIET_LOGS = json.dumps({"loggers": {"console": {"config": {"log_level": "INFO"}}}})


def say(message: str) -> None:
    print(f"[dev.py] {message}", flush=True)


def ensure_venv() -> None:
    if sys.version_info[:2] != (3, 11):
        sys.exit(f"ml_assets needs Python 3.11; this is {sys.version.split()[0]}. Run it with python3.11.")
    wanted = hashlib.sha256((ROOT / "pyproject.toml").read_bytes()).hexdigest()
    if STAMP.exists() and STAMP.read_text().strip() == wanted:
        return
    if not (BIN / "python").exists():
        say(f"creating {VENV}")
        venv.create(VENV, with_pip=True)
    say("installing ml_assets and its dependencies (once; takes a few minutes)")
    subprocess.run(
        [str(BIN / "python"), "-m", "pip", "install", "--disable-pip-version-check", "-q", "-e", ".[dev,bench]"],
        cwd=ROOT,
        check=True,
    )
    STAMP.write_text(wanted)


def dagster_env() -> dict[str, str]:
    env = dict(os.environ)
    home = Path(env.setdefault("DAGSTER_HOME", str(DAGSTER_HOME)))
    home.mkdir(parents=True, exist_ok=True)
    config = home / "dagster.yaml"
    if not config.exists():
        # two runs at a time on a small machine: sensors, automation and backfills queue behind
        config.write_text("telemetry:\n  enabled: false\nrun_queue:\n  max_concurrent_runs: 2\n")
    return env


def partition_keys(env: dict[str, str]) -> list[str]:
    code = (
        "from ml_assets.partitions import monthly_partitions; from ml_assets.settings import Settings;"
        "print(' '.join(monthly_partitions(Settings.from_env()).get_partition_keys()))"
    )
    out = subprocess.run([str(BIN / "python"), "-c", code], env=env, check=True, capture_output=True, text=True)
    return out.stdout.split()


def print_summary(env: dict[str, str], months: list[str]) -> None:
    code = (
        "import json, sys; from upath import UPath; from ml_assets.settings import Settings;"
        "s = Settings.from_env();"
        "print(json.dumps([json.loads(p.read_text()) for m in sys.argv[1:]"
        " for p in [UPath(s.reports_dir) / 'evaluation_report' / f'{m}.json'] if p.exists()]));"
        "c = [json.loads(p.read_text()) for m in sys.argv[1:]"
        " for p in [UPath(s.reports_dir) / 'champion_model' / f'{m}.json'] if p.exists()];"
        "print(json.dumps(c[-1] if c else None))"
    )
    out = subprocess.run([str(BIN / "python"), "-c", code, *months], env=env, check=True, capture_output=True, text=True)
    report_line, champion_line = out.stdout.splitlines()
    reports, champion = json.loads(report_line), json.loads(champion_line)
    if not reports:
        return
    say(f"evaluation reports ({reports[0]['dataset']}): model vs course baseline vs mean predictor, RMSE in minutes")
    for r in reports:
        print(
            f"  {r['train_month']} -> {r['valid_month']}: model {r['rmse']:7.3f}  "
            f"baseline {r['course_baseline_rmse']:7.3f}  mean {r['mean_predictor_rmse']:7.3f}"
        )
    if champion:
        say(f"MLflow champion: version {champion['champion_version']} ({champion['reason']})")


def run(args: list[str]) -> int:
    env = dagster_env()
    months = args[args.index("--months") + 1 :] if "--months" in args else partition_keys(env)
    say(f"materializing the whole graph for {len(months)} month(s): {' '.join(months)}")
    for month in months:
        say(f"month {month}")
        cmd = [
            str(BIN / "dagster"), "asset", "materialize", "-m", "ml_assets.definitions",
            "--select", "raw_trips*", "--partition", month, "--config-json", QUIET_LOGS,
        ]
        # `dagster asset materialize` still works in 1.13 but announces that `dg launch` (another
        # package) supersedes it; that notice says nothing about this run, so it is not repeated.
        quiet = {**env, "PYTHONWARNINGS": "ignore:Function `asset_materialize_command` is superseded"}
        if subprocess.run(cmd, cwd=ROOT, env=quiet).returncode != 0:
            say(f"month {month} failed; earlier months are materialized and kept")
            return 1
    print_summary(env, months)
    return 0


MONTH_ASSETS = ["raw_trips", "trip_features", "duration_model"]  # partition M needs month M only
EVALUATED_ASSETS = ["evaluation_report", "champion_model"]  # partition M also needs month M-1
BACKFILL_MUTATION = """
mutation($params: LaunchBackfillParams!) {
  launchPartitionBackfill(backfillParams: $params) {
    __typename
    ... on LaunchBackfillSuccess { backfillId }
    ... on PythonError { message }
    ... on InvalidSubsetError { message }
  }
}"""


def backfill_params(months: list[str], all_months: list[str]) -> dict:
    """Backfill launch parameters with an explicit month range per asset.

    Partition names alone would make Dagster extend the evaluation to the month after the range
    (it reads the range's last features) and to the source's first month (nothing to evaluate),
    so the backfill would end failed on partitions it could never materialize.
    """
    first, last = months[0], months[-1]
    evaluated_first = all_months[1] if first == all_months[0] and len(all_months) > 1 else first
    by_asset = [(asset, first) for asset in MONTH_ASSETS]
    if evaluated_first <= last:
        by_asset += [(asset, evaluated_first) for asset in EVALUATED_ASSETS]
    return {
        "partitionsByAssets": [
            {"assetKey": {"path": [asset]}, "partitions": {"range": {"start": start, "end": last}}}
            for asset, start in by_asset
        ]
    }


def backfill(args: list[str]) -> int:
    """An asset backfill (not a job backfill): the daemon orders months by their dependencies,
    so evaluation M runs after model M-1, one run per month."""
    if len(args) != 2:
        sys.exit("usage: python3 dev.py backfill FIRST_MONTH LAST_MONTH   (e.g. 2013-01 2013-12)")
    env = dagster_env()
    all_months = partition_keys(env)
    months = [m for m in all_months if args[0] <= m <= args[1]]
    if not months:
        sys.exit(f"no partitions between {args[0]} and {args[1]}")
    variables = {"params": backfill_params(months, all_months)}
    out = subprocess.run(
        [str(BIN / "dagster-graphql"), "-m", "ml_assets.definitions", "-t", BACKFILL_MUTATION, "-v", json.dumps(variables)],
        cwd=ROOT, env=env, capture_output=True, text=True,
    )
    # dagster-graphql prints its code server's log lines around the JSON answer
    answers = [json.loads(line) for line in out.stdout.splitlines() if line.startswith('{"data"')]
    answer = answers[0] if answers else {}
    launched = answer.get("data", {}).get("launchPartitionBackfill", {})
    if launched.get("__typename") != "LaunchBackfillSuccess":
        print(out.stdout, out.stderr, sep="\n")
        return 1
    say(f"backfill {launched['backfillId']} queued for {len(months)} month(s) {months[0]}..{months[-1]}")
    say("it runs while the daemon runs: `python3 dev.py ui`, then Overview > Backfills at http://127.0.0.1:3000")
    return 0


def main(argv: list[str]) -> int:
    if not argv or argv[0] not in {"run", "test", "ui", "backfill", "bench"}:
        print(__doc__)
        return 2
    command, rest = argv[0], argv[1:]
    ensure_venv()
    if command == "run":
        return run(rest)
    if command == "backfill":
        return backfill(rest)
    if command == "bench":
        # `bench` = benchmarks.month; `bench scaling --with-xgboost` = benchmarks.scaling with that flag
        module = rest.pop(0) if rest and not rest[0].startswith("-") else "month"
        return subprocess.run([str(BIN / "python"), "-m", f"benchmarks.{module}", *rest], cwd=ROOT).returncode
    if command == "test":
        return subprocess.run([str(BIN / "python"), "-m", "pytest", *rest], cwd=ROOT, env=dagster_env()).returncode
    return subprocess.run([str(BIN / "dagster"), "dev", "-h", "127.0.0.1", *rest], cwd=ROOT, env=dagster_env()).returncode


if __name__ == "__main__":
    sys.exit(main(sys.argv[1:]))
