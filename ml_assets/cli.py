"""`python -m ml_assets.cli run`: materialize pipelines in one process on the Dagster instance
(DAGSTER_HOME), so the runs show in `dagster dev`, then print one summary table.

    python -m ml_assets.cli run                               # every pipeline that works offline
    python -m ml_assets.cli run --pipelines iris heart_disease
    python -m ml_assets.cli run --pipelines nyc_taxi_green --months 2021-01 2021-02
    python -m ml_assets.cli partitions nyc_flights            # the pipeline's partition keys
"""

from __future__ import annotations

import argparse
import json
import sys
import time

import dagster as dg
from upath import UPath

from ml_assets.components import TrainingPipeline
from ml_assets.orchestration.plan import BACKTEST, REPORT, PipelinePlan

QUIET = {"loggers": {"console": {"config": {"log_level": "WARNING"}}}}
# Dagster's run tags for a partition range (what a single-run backfill sets); not exported by name.
RANGE_START_TAG, RANGE_END_TAG = "dagster/asset_partition_range_start", "dagster/asset_partition_range_end"


def month_ranges(keys: list[str], chosen: list[str], months_per_run: int | None) -> list[list[str]]:
    """The chosen months as runs: contiguous stretches of the partition keys, at most months_per_run each."""
    runs: list[list[str]] = []
    for key in keys:
        if key not in chosen:
            continue
        contiguous = runs and keys.index(runs[-1][-1]) == keys.index(key) - 1
        if contiguous and (months_per_run is None or len(runs[-1]) < months_per_run):
            runs[-1].append(key)
        else:
            runs.append([key])
    return runs


def load_pipelines() -> tuple[dg.Definitions, dict[str, PipelinePlan]]:
    """The code location's Definitions and every TrainingPipeline in it, by name."""
    from ml_assets.definitions import defs as load_defs

    defs = load_defs()
    tree = defs.component_tree
    plans = {c.name: c.plan() for c in tree.get_all_components(of_type=TrainingPipeline)}
    return defs, dict(sorted(plans.items()))


def report_path(defs: dg.Definitions, plan: PipelinePlan, partition: str | None) -> UPath:
    data_dir = defs.resources["storage"].data_dir
    folder = UPath(data_dir) / "reports" / plan.name
    return folder / REPORT / f"{partition}.json" if partition else folder / f"{REPORT}.json"


def parse_months_argument(value: str) -> list[str]:
    """One month (YYYY-MM) or a range FIRST..LAST, as months."""
    from ml_assets.months import is_month, months_between

    first, _, last = value.partition("..")
    for month in filter(None, (first, last)):
        if not is_month(month):
            raise argparse.ArgumentTypeError(f"{month!r} is not a month written YYYY-MM (a range is FIRST..LAST or FIRST LAST)")
    return months_between(first, last) if last else [first]


def months_of_argument(chosen: list[str] | None) -> list[str] | None:
    """`--months A B` is the range A..B, as `dev.py backfill A B`; one month, or A..B, as written."""
    from ml_assets.months import months_between

    if not chosen:
        return chosen
    if len(chosen) == 2 and ".." not in "".join(chosen):
        for month in chosen:
            parse_months_argument(month)
        return months_between(chosen[0], chosen[1]) if chosen[0] <= chosen[1] else chosen
    return [month for value in chosen for month in parse_months_argument(value)]


def check_figures(evaluation) -> str:
    """A failed check's figures, e.g. `accuracy 0.979 < min_accuracy 0.999`."""
    from ml_assets.orchestration.checks import figures

    metadata = {k: getattr(v, "value", v) for k, v in (evaluation.metadata or {}).items()}
    return figures(dg.AssetCheckResult(check_name=evaluation.check_name, passed=False, metadata=metadata))


def _pm(stats: dict) -> str:
    return f"{stats['mean']:.3f} ± {stats['sd']:.3f}"


def summary_rows(report: dict) -> list[str]:
    """The report as table cells: metric, model, then each baseline (the same cells for every task kind)."""
    metric = report["primary_metric"]
    label = metric.upper() if metric == "rmse" else metric
    if report.get("protocol") == "cross-validation":
        summary = report["cv"]["summary"]
        return [f"CV {label}", _pm(summary["model"][metric])] + [
            f"{key.replace('_', ' ')} {_pm(stats[metric])}" for key, stats in summary.items() if key != "model"
        ]
    cells = [label, f"{report['score']:.3f}"] + [f"{key.replace('_', ' ')} {value:.3f}" for key, value in report["baselines"].items()]
    months = [m.strip() for m in str(report.get("model_training_months") or report.get("train_month") or "").split(",") if m.strip()]
    if months:  # which months the model learned from, and whether the backtest chose that window
        span = months[0] if len(months) == 1 else f"{months[0]}..{months[-1]}"
        how = ", chosen by the backtest" if report.get("model_training_window_reason") else ""
        cells.append(f"model trained on {span} ({len(months)} month{'s' if len(months) > 1 else ''}{how})")
    return cells


def run(args: argparse.Namespace) -> int:
    defs, plans = load_pipelines()
    unknown = sorted(set(args.pipelines or []) - set(plans))
    if unknown:
        print(f"unknown pipeline(s) {unknown}; the code location has {sorted(plans)}", file=sys.stderr)
        return 2
    chosen = [plans[n] for n in args.pipelines] if args.pipelines else [p for p in plans.values() if p.source.offline]
    instance = dg.DagsterInstance.get()
    table: list[list[str]] = []
    began = time.perf_counter()
    for plan in chosen:
        job = defs.resolve_job_def(plan.job_name("training"))
        if plan.monthly:
            keys = plan.partitions_def.get_partition_keys()
            try:
                months_asked = months_of_argument(args.months)
            except argparse.ArgumentTypeError as exc:
                print(f"--months: {exc}", file=sys.stderr)
                return 2
            unknown_months = sorted(set(months_asked or []) - set(keys))
            if unknown_months:
                print(f"{plan.name} has no partitions {unknown_months}; it has {keys[0]}..{keys[-1]}", file=sys.stderr)
                return 2
            runs = month_ranges(keys, months_asked or keys, plan.months_per_run)
        else:
            runs = [[None]]
        for months in runs:
            t0 = time.perf_counter()
            tags = {RANGE_START_TAG: months[0], RANGE_END_TAG: months[-1]} if plan.monthly else None
            result = job.execute_in_process(instance=instance, tags=tags, run_config=QUIET, raise_on_error=False)
            where = f"{plan.name}{'[' + (months[0] + '..' + months[-1] if len(months) > 1 else months[0]) + ']' if plan.monthly else ''}"
            failed_checks = [
                f"{e.asset_check_evaluation_data.check_name} ({check_figures(e.asset_check_evaluation_data)})"
                for e in result.all_events
                if e.event_type == dg.DagsterEventType.ASSET_CHECK_EVALUATION and not e.asset_check_evaluation_data.passed
            ]
            if not result.success:
                print(f"[run] {where} FAILED (run {result.run_id}); earlier outputs are kept", file=sys.stderr)
                for event in result.get_step_failure_events():
                    print(f"  {event.step_key}: {event.step_failure_data.error.message.strip()}", file=sys.stderr)
                for failed in failed_checks:
                    print(f"  blocking check failed: {failed}", file=sys.stderr)
                return 1
            print(f"[run] {where}: ok in {time.perf_counter() - t0:.1f} s, checks failed: {'; '.join(failed_checks) or 'none'}", flush=True)
            for partition in months:
                path = report_path(defs, plan, partition)
                report = json.loads(path.read_text()) if path.exists() else {}
                if report.get("status", "evaluated") == "evaluated" and report:
                    table.append([plan.name, partition or "-", *summary_rows(report)])
    print(f"\n{len(table)} evaluation report(s) in {time.perf_counter() - began:.1f} s: model metric vs each baseline")
    widths = [max(len(row[i]) if i < len(row) else 0 for row in table) for i in range(max(map(len, table), default=0))]
    for row in table:
        print("  " + "  ".join(cell.ljust(widths[i]) for i, cell in enumerate(row)))
    for plan in chosen:
        backtest = UPath(defs.resources["storage"].data_dir) / "reports" / plan.name / f"{BACKTEST}.json"
        if plan.monthly and backtest.exists():
            print(f"\n{plan.name} backtest_report (walk-forward):\n{json.loads(backtest.read_text())['markdown']}")
    return 0


def partitions(args: argparse.Namespace) -> int:
    _, plans = load_pipelines()
    if args.pipeline not in plans:
        print(f"unknown pipeline {args.pipeline!r}; the code location has {sorted(plans)}", file=sys.stderr)
        return 2
    plan = plans[args.pipeline]
    print(" ".join(plan.partitions_def.get_partition_keys()) if plan.monthly else "")
    return 0


def main(argv: list[str]) -> int:
    parser = argparse.ArgumentParser(prog="python -m ml_assets.cli", description=__doc__.splitlines()[0])
    commands = parser.add_subparsers(dest="command", required=True)
    run_parser = commands.add_parser("run", help="materialize pipelines and print a summary")
    run_parser.add_argument("--pipelines", nargs="+", help="pipeline names (default: every offline pipeline)")
    run_parser.add_argument(
        "--months", nargs="+", help="FIRST [LAST] (a range, as dev.py backfill takes it) or FIRST..LAST; default: every month"
    )
    part_parser = commands.add_parser("partitions", help="print a pipeline's partition keys")
    part_parser.add_argument("pipeline")
    args = parser.parse_args(argv)
    return run(args) if args.command == "run" else partitions(args)


if __name__ == "__main__":
    sys.exit(main(sys.argv[1:]))
