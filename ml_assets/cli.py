"""`python -m ml_assets.cli run`: materialize pipelines on the Dagster instance (DAGSTER_HOME), so the runs show in
`dagster dev`, then print one summary table. The pipelines run side by side (one per CPU at most): the longest in
this process, the others in processes of their own. A pipeline's runs follow each other in its process, and its
steps fit their models side by side (StepCompute).

    python -m ml_assets.cli run                               # every pipeline that works offline
    python -m ml_assets.cli run --pipelines iris heart_disease
    python -m ml_assets.cli run --pipelines nyc_taxi_green --months 2021-01 2021-02
    python -m ml_assets.cli run --jobs 1                      # one pipeline after the other, in this process
    python -m ml_assets.cli partitions nyc_flights            # the pipeline's partition keys
"""

from __future__ import annotations

import argparse
import json
import os
import socket
import sys
import time
from pathlib import Path

import dagster as dg
from upath import UPath

from ml_assets.components import TrainingPipeline
from ml_assets.months import month_span
from ml_assets.orchestration.launcher import RUN_HOST_TAG
from ml_assets.orchestration.plan import BACKTEST_REPORT, EVALUATION_REPORT, PipelinePlan

QUIET = {"loggers": {"console": {"config": {"log_level": "WARNING"}}}}
# Dagster's run tags for a partition range (what a single-run backfill sets); not exported by name.
RANGE_START_TAG, RANGE_END_TAG = "dagster/asset_partition_range_start", "dagster/asset_partition_range_end"
# runs in this process: failed if it dies (orchestration/launcher.py)
HERE = {RUN_HOST_TAG: socket.gethostname()}


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
    folder = UPath(defs.resources["storage"].reports_dir) / plan.name  # where the report IO manager writes
    return (
        folder / EVALUATION_REPORT / f"{partition}.json"
        if partition
        else folder / f"{EVALUATION_REPORT}.json"
    )


def parse_months_argument(value: str) -> list[str]:
    """One month (YYYY-MM) or a range FIRST..LAST, as months."""
    from ml_assets.months import is_month, months_between

    first, _, last = value.partition("..")
    for month in filter(None, (first, last)):
        if not is_month(month):
            raise argparse.ArgumentTypeError(
                f"{month!r} is not a month written YYYY-MM (a range is FIRST..LAST or FIRST LAST)"
            )
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
    from ml_assets.tasks.checks import figures

    return figures(evaluation)


def summary_rows(report: dict) -> list[str]:
    """The report as table cells: metric, model, then each baseline (the same cells for every task kind)."""
    from ml_assets.tasks.protocols import mean_pm_sd

    metric = report["primary_metric"]
    label = metric.upper() if metric == "rmse" else metric
    if report.get("protocol") == "cross-validation":
        summary = report["cv"]["summary"]
        return [f"CV {label}", mean_pm_sd(summary["model"][metric])] + [
            f"{key.replace('_', ' ')} {mean_pm_sd(stats[metric])}"
            for key, stats in summary.items()
            if key != "model"
        ]
    cells = [label, f"{report['score']:.3f}"] + [
        f"{key.replace('_', ' ')} {value:.3f}" for key, value in report["baselines"].items()
    ]
    months = [
        m.strip()
        for m in str(report.get("model_training_months") or report.get("train_month") or "").split(",")
        if m.strip()
    ]
    if months:  # which months the model learned from, and whether the backtest chose that window
        span = months[0] if len(months) == 1 else f"{months[0]}..{months[-1]}"
        how = ", chosen by the backtest" if report.get("model_training_window_reason") else ""
        cells.append(f"model trained on {span} ({len(months)} month{'s' if len(months) > 1 else ''}{how})")
    return cells


class UsageError(Exception):
    """A command line the CLI refuses (exit code 2), with what is allowed."""


def runs_of(plan: PipelinePlan, months: list[str] | None) -> list[list[str | None]]:
    """The runs that materialize `plan`: month ranges (the asked months, or every month), or one run for a table."""
    if not plan.monthly:
        return [[None]]
    keys = plan.partitions_def.get_partition_keys()
    try:
        asked = months_of_argument(months)
    except argparse.ArgumentTypeError as exc:
        raise UsageError(f"--months: {exc}") from None
    unknown = sorted(set(asked or []) - set(keys))
    if unknown:
        raise UsageError(f"{plan.name} has no partitions {unknown}; it has {keys[0]}..{keys[-1]}")
    return month_ranges(keys, asked or keys, plan.months_per_run)


FAILURES_FILE_ENV = (
    "ML_ASSETS_CLI_FAILURES"  # where a side-by-side child writes its failure rows for the parent's summary
)


def failed_check_rows(result, plan: PipelinePlan, months: list[str | None]) -> list[list[str]]:
    """Each failed check of a run as a summary row: pipeline, month(s) it failed on, what failed and its figures."""
    rows = []
    for event in result.all_events:
        if (
            event.event_type != dg.DagsterEventType.ASSET_CHECK_EVALUATION
            or event.asset_check_evaluation_data.passed
        ):
            continue
        data = event.asset_check_evaluation_data
        metadata = {k: getattr(v, "value", v) for k, v in (data.metadata or {}).items()}
        month = metadata.get("months_failed") or metadata.get("month") or (months[0] if plan.monthly else "-")
        rows.append([plan.name, str(month), f"check {data.check_name} failed", check_figures(data)])
    return rows


def failed_step_rows(result, plan: PipelinePlan, months: list[str | None]) -> list[list[str]]:
    where = (months[0] if len(months) == 1 else f"{months[0]}..{months[-1]}") if plan.monthly else "-"
    rows = []
    for event in result.get_step_failure_events():
        data = event.step_failure_data
        said = (
            data.user_failure_data.description
            if data.user_failure_data and data.user_failure_data.description
            else None
        )
        said = (said or data.error.message).strip().splitlines()[0]
        rows.append([plan.name, where, f"step {event.step_key} failed", said])
    return rows


def build_what_is_missing(job, plan: PipelinePlan, first: str, instance: dg.DagsterInstance) -> int:
    """The months before `first` that its evaluation needs and the instance lacks (prerequisites.py), built first: raw
    data, features and models over the one range, saying so. 1 if that run fails."""
    from ml_assets.orchestration.plan import FEATURES, MODEL, RAW_DATA
    from ml_assets.orchestration.prerequisites import missing_before

    missing = missing_before(plan, instance, first)
    if missing is None:
        return 0
    print(
        f"[run] {plan.name}: {first} is scored by the model of {missing.previous}, which learns from {missing.span}: "
        f"building raw_data, features and model for {missing.span} first",
        flush=True,
    )
    tags = {RANGE_START_TAG: missing.months[0], RANGE_END_TAG: missing.months[-1], **HERE}
    keys = [plan.key(a) for a in (RAW_DATA, FEATURES, MODEL)]
    result = job.execute_in_process(
        instance=instance, tags=tags, run_config=QUIET, raise_on_error=False, asset_selection=keys
    )
    if result.success:
        return 0
    from ml_assets.orchestration.prerequisites import refusal

    refused = refusal(instance, plan, missing.previous)
    if refused is not None:  # nothing to score `first` with: its report says why, and the range goes on
        print(
            f"[run] {plan.name}: {missing.previous} was refused ({refused}): {first} will have nothing to be scored by",
            flush=True,
        )
        return 0
    print(
        f"[run] {plan.name}[{missing.span}] (needed before {first}) FAILED (run {result.run_id})",
        file=sys.stderr,
    )
    for row in failed_step_rows(result, plan, missing.months):
        print(f"  {row[2]}: {row[3]}", file=sys.stderr)
    return 1


def materialize(
    defs: dg.Definitions,
    plan: PipelinePlan,
    runs: list[list[str | None]],
    instance: dg.DagsterInstance,
    failures: list[list[str]] | None = None,
) -> int:
    """The pipeline's runs one after the other, in this process, each on a line; 1 at the first that fails. What failed
    (steps, blocking checks with their month and figures) is added to `failures` as summary rows."""
    failures = [] if failures is None else failures
    job = defs.resolve_job_def(plan.job_name("training"))
    for months in runs:
        t0 = time.perf_counter()
        if plan.monthly and build_what_is_missing(job, plan, months[0], instance):
            failures.append([plan.name, months[0], "months before it failed to build", "see the run above"])
            return 1
        tags = {**({RANGE_START_TAG: months[0], RANGE_END_TAG: months[-1]} if plan.monthly else {}), **HERE}
        result = job.execute_in_process(instance=instance, tags=tags, run_config=QUIET, raise_on_error=False)
        where = f"{plan.name}[{month_span(months)}]" if plan.monthly else plan.name
        checks_failed = failed_check_rows(result, plan, months)
        said = "; ".join(
            f"{row[2].removeprefix('check ').removesuffix(' failed')} on {row[1]} ({row[3]})"
            for row in checks_failed
        )
        if not result.success:
            print(f"[run] {where} FAILED (run {result.run_id}); earlier outputs are kept", file=sys.stderr)
            steps_failed = failed_step_rows(result, plan, months)
            for row in steps_failed:
                print(f"  {row[2]}: {row[3]}", file=sys.stderr)
            for row in checks_failed:
                print(f"  blocking {row[2]} on {row[1]}: {row[3]}", file=sys.stderr)
            # a step failed by its blocking check is already a row of that check
            failures.extend(
                checks_failed
                + [row for row in steps_failed if not (checks_failed and "asset check" in row[3])]
            )
            return 1
        failures.extend(checks_failed)
        print(
            f"[run] {where}: ok in {time.perf_counter() - t0:.1f} s, checks failed: {said or 'none'}",
            flush=True,
        )
    return 0


def lanes_of(plans: list, processes: int) -> list[list]:
    """`plans` dealt to at most `processes` processes in turn, each running its own one after the other."""
    return [plans[i::processes] for i in range(min(processes, len(plans)))]


def side_by_side(
    defs: dg.Definitions,
    plans: list[PipelinePlan],
    runs: dict[str, list],
    months: list[str] | None,
    jobs: int,
    instance: dg.DagsterInstance,
    failures: list[list[str]],
) -> int:
    """The longest pipeline here and the others in `jobs - 1` processes beside it (`run --pipelines NAME ... --jobs
    1`), each process running its share one after the other; 1 if any failed (the others still finish: their outputs
    are independent).

    The longest keeps its parallel fits; the others fit one model at a time (ML_ASSETS_PARALLEL_FITS=1, which their
    cross-validation follows): most of the longest one's time goes to work one thread does (logging to MLflow,
    evaluating, scoring), and the others fill the CPU it leaves (`python3 dev.py bench targets` measures the main
    job). They run at the longest one's priority: at a lower one (nice 10) any other work on the machine (a browser,
    a test run) took nearly all their CPU, and a pipeline of seconds took many minutes. A process for each of them
    would import the libraries and open the stores once more each: on two CPUs that CPU is what the longest one
    waits for."""
    import subprocess
    import tempfile
    from concurrent.futures import ThreadPoolExecutor

    longest, *others = sorted(
        plans, key=lambda p: len(p.partitions_def.get_partition_keys()) if p.monthly else 0, reverse=True
    )
    lanes = lanes_of(others, jobs - 1)
    # this process's own stdout and stderr, kept now: while a step of the longest runs here, Dagster points them at the
    # step's captured log, and a process started then wrote its lines there (the iris run's line went missing so)
    out, err = os.dup(sys.stdout.fileno()), os.dup(sys.stderr.fileno())

    def child(lane: list[PipelinePlan]) -> set[str]:
        """The lane's pipelines in a process of their own; those that failed."""
        argv = [sys.executable, "-m", "ml_assets.cli", "run", "--pipelines", *[p.name for p in lane]]
        rows = Path(scratch) / f"{lane[0].name}.json"
        env = {**os.environ, "ML_ASSETS_PARALLEL_FITS": "1", FAILURES_FILE_ENV: str(rows)}
        monthly = months and any(p.monthly for p in lane)
        process = subprocess.Popen(
            [*argv, "--jobs", "1", "--no-summary", *(["--months", *months] if monthly else [])],
            env=env,
            stdout=out,
            stderr=err,
        )
        code = process.wait()
        names = [p.name for p in lane]
        said = (
            json.loads(rows.read_text()) if rows.exists() else {"rows": [], "failed": names if code else []}
        )
        failures.extend(said["rows"])
        if code and not rows.exists():
            failures.append([", ".join(names), "-", "the pipelines' process failed", f"exit code {code}"])
        return set(said["failed"])

    with tempfile.TemporaryDirectory(prefix="ml_assets-cli-") as scratch:
        try:
            with ThreadPoolExecutor(max_workers=max(1, len(lanes))) as pool:
                elsewhere = pool.map(child, lanes)
                failed = (
                    [longest.name]
                    if materialize(defs, longest, runs[longest.name], instance, failures)
                    else []
                )
                failed += sorted(set().union(*elsewhere))
        finally:
            os.close(out)
            os.close(err)
    if failed:
        print(
            f"[run] failed: {', '.join(failed)} (their errors are above); the other pipelines' outputs are kept",
            file=sys.stderr,
        )
    return 1 if failed else 0


def available_cpus() -> int:
    return len(os.sched_getaffinity(0)) if hasattr(os, "sched_getaffinity") else os.cpu_count() or 1


def run(args: argparse.Namespace) -> int:
    defs, plans = load_pipelines()
    unknown = sorted(set(args.pipelines or []) - set(plans))
    if unknown:
        print(f"unknown pipeline(s) {unknown}; the code location has {sorted(plans)}", file=sys.stderr)
        return 2
    chosen = (
        [plans[n] for n in args.pipelines]
        if args.pipelines
        else [p for p in plans.values() if p.source.offline]
    )
    if args.jobs is not None and args.jobs < 1:
        print(f"--jobs is how many pipelines run at once, 1 or more: not {args.jobs}", file=sys.stderr)
        return 2
    try:
        runs = {plan.name: runs_of(plan, args.months) for plan in chosen}
    except UsageError as exc:
        print(exc, file=sys.stderr)
        return 2
    began = time.perf_counter()
    jobs = min(args.jobs or available_cpus(), len(chosen))
    # the instance's storage is made (and migrated) here, before any other process starts: two processes making a new
    # one at once left its SQLite run storage with two alembic heads, unreadable by both
    instance = dg.DagsterInstance.get()
    # once, in the parent: a killed earlier `dev.py run` left its runs STARTED
    if not os.environ.get(FAILURES_FILE_ENV):
        from ml_assets.orchestration.launcher import fail_runs_whose_process_is_gone

        for run_id in fail_runs_whose_process_is_gone(instance):
            print(
                f"[run] run {run_id} of an earlier start was still STARTED though its process is gone: marked FAILED",
                flush=True,
            )
    failures: list[list[str]] = []
    if jobs > 1:
        code = side_by_side(defs, chosen, runs, args.months, jobs, instance, failures)
        failed = []
    else:
        # each pipeline, even after a failure
        failed = [
            plan.name for plan in chosen if materialize(defs, plan, runs[plan.name], instance, failures)
        ]
        code = 1 if failed else 0
    if os.environ.get(FAILURES_FILE_ENV):  # a side-by-side child: its parent prints the summary
        Path(os.environ[FAILURES_FILE_ENV]).write_text(json.dumps({"rows": failures, "failed": failed}))
    if args.summary:
        print_summary(defs, chosen, runs, time.perf_counter() - began, failures)
    return code


def print_summary(
    defs: dg.Definitions,
    chosen: list[PipelinePlan],
    runs: dict[str, list],
    seconds: float,
    failures: list[list[str]] | None = None,
) -> None:
    """One table of every evaluation report the runs stored (model metric vs each baseline), what failed (a row each:
    pipeline, month, what, figures), why a month has no report, then each backtest. Printed whether or not
    a run failed."""
    table: list[list[str]] = []
    unevaluated: list[list[str]] = []
    for plan in chosen:
        for partition in (month for months in runs[plan.name] for month in months):
            path = report_path(defs, plan, partition)
            report = json.loads(path.read_text()) if path.exists() else {}
            if report and report.get("status", "evaluated") == "evaluated":
                table.append([plan.name, partition or "-", *summary_rows(report)])
            elif report:
                unevaluated.append(
                    [
                        plan.name,
                        partition or "-",
                        f"not evaluated: {report['status']}",
                        not_evaluated_because(report),
                    ]
                )
    failed = failures or []
    print(
        f"\n{len(table)} evaluation report(s) in {seconds:.1f} s: model metric vs each baseline"
        + ("" if table else f" ({why_no_report(unevaluated, failed)})")
    )
    print_rows(table)
    if failed:
        print(f"\n{len(failed)} failure(s): pipeline, month, what failed, figures")
        print_rows(failed)
    if unevaluated:
        print(f"\n{len(unevaluated)} month(s) without a score:")
        print_rows(unevaluated)
    for plan in chosen:
        backtest = UPath(defs.resources["storage"].reports_dir) / plan.name / f"{BACKTEST_REPORT}.json"
        if plan.monthly and backtest.exists():
            print(
                f"\n{plan.name} backtest_report (walk-forward):\n{json.loads(backtest.read_text())['markdown']}"
            )


def not_evaluated_because(report: dict) -> str:
    if report.get("status") == "previous month refused":
        return f"{report.get('trained_on')} was refused: {report.get('why', 'see its raw_data')}"
    if report.get("status") == "first month":
        return "the source's first month: no earlier model to score"
    if report.get("status") == "awaiting data":
        return f"its features are not materialized yet (the model of {report.get('trained_on')} waits)"
    return str(report.get("status"))


def why_no_report(unevaluated: list[list[str]], failures: list[list[str]]) -> str:
    """Why the summary table is empty, in a few words."""
    if failures:
        return f"{len(failures)} failure(s) below"
    if unevaluated:
        return "; ".join(f"{row[1]}: {row[3]}" for row in unevaluated[:3]) + (
            " ..." if len(unevaluated) > 3 else ""
        )
    return "no run stored one"


def print_rows(rows: list[list[str]]) -> None:
    widths = [
        max(len(row[i]) if i < len(row) else 0 for row in rows) for i in range(max(map(len, rows), default=0))
    ]
    for row in rows:
        print("  " + "  ".join(cell.ljust(widths[i]) for i, cell in enumerate(row)))


def partitions(args: argparse.Namespace) -> int:
    _, plans = load_pipelines()
    if args.pipeline not in plans:
        print(f"unknown pipeline {args.pipeline!r}; the code location has {sorted(plans)}", file=sys.stderr)
        return 2
    plan = plans[args.pipeline]
    print(" ".join(plan.partitions_def.get_partition_keys()) if plan.monthly else "")
    return 0


def backfill(args: argparse.Namespace) -> int:
    """Queue an asset backfill of a month range; the daemon (`dev.py ui`) runs it as one run."""
    from ml_assets.orchestration.backfills import launch_backfill

    _, plans = load_pipelines()
    if args.pipeline not in plans or not plans[args.pipeline].monthly:
        monthly = sorted(name for name, plan in plans.items() if plan.monthly)
        print(
            f"--pipeline {args.pipeline!r} is not allowed: a monthly pipeline of the code location, one of {monthly}",
            file=sys.stderr,
        )
        return 2
    try:
        if len(args.months) > 2:
            raise argparse.ArgumentTypeError(
                f"{' '.join(args.months)!r} is not a range: FIRST [LAST] or FIRST..LAST, months YYYY-MM"
            )
        wanted = months_of_argument(args.months)
    except argparse.ArgumentTypeError as exc:
        print(f"usage: python3 dev.py backfill FIRST [LAST] [--pipeline NAME]: {exc}", file=sys.stderr)
        return 2
    months = [
        m for m in plans[args.pipeline].partitions_def.get_partition_keys() if min(wanted) <= m <= max(wanted)
    ]
    if not months:
        print(f"no partitions of {args.pipeline} between {wanted[0]} and {wanted[-1]}", file=sys.stderr)
        return 2
    try:
        backfill_id = launch_backfill(args.pipeline, months)
    except RuntimeError as exc:
        print(exc, file=sys.stderr)
        return 1
    print(
        f"backfill {backfill_id} of {args.pipeline} queued for {len(months)} month(s) {months[0]}..{months[-1]}"
    )
    print(
        "it runs while the daemon runs: `python3 dev.py ui`, then Overview > Backfills at http://127.0.0.1:3000"
    )
    return 0


def main(argv: list[str]) -> int:
    parser = argparse.ArgumentParser(prog="python -m ml_assets.cli", description=__doc__.splitlines()[0])
    commands = parser.add_subparsers(dest="command", required=True)
    run_parser = commands.add_parser("run", help="materialize pipelines and print a summary")
    run_parser.add_argument("--pipelines", nargs="+", help="pipeline names (default: every offline pipeline)")
    run_parser.add_argument(
        "--months",
        nargs="+",
        help="FIRST [LAST] (a range, as dev.py backfill takes it) or FIRST..LAST; default: every month",
    )
    run_parser.add_argument(
        "--jobs",
        type=int,
        help="pipelines run at once, each in a process of its own (default: one per CPU; 1: one after the other, here)",
    )
    run_parser.add_argument(
        "--no-summary", dest="summary", action="store_false", help="leave out the summary table"
    )
    part_parser = commands.add_parser("partitions", help="print a pipeline's partition keys")
    part_parser.add_argument("pipeline")
    backfill_parser = commands.add_parser(
        "backfill", help="queue an asset backfill of a month range for the daemon"
    )
    backfill_parser.add_argument("months", nargs="+", help="FIRST [LAST] or FIRST..LAST (YYYY-MM)")
    backfill_parser.add_argument(
        "--pipeline", default="nyc_flights", help="a monthly pipeline (default: nyc_flights)"
    )
    args = parser.parse_args(argv)
    return {"run": run, "partitions": partitions, "backfill": backfill}[args.command](args)


if __name__ == "__main__":
    sys.exit(main(sys.argv[1:]))
