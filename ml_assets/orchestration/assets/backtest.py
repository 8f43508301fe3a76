"""backtest_report: a walk-forward backtest of retraining policies over every month with data.

For each month t: the model trained on t-1 (the pipeline's own), models retrained on the last k
months, the course baseline, the champion as the gates would have left it when t arrived (replayed in month
order from none), and the first month's model never retrained (how a frozen model decays). Logged to MLflow
as a run of the pipeline's experiment.
"""

import re
from dataclasses import asdict
from typing import Any

import dagster as dg

from ml_assets import monitoring
from ml_assets.learning.score_cache import ScoreCache
from ml_assets.orchestration.assets.champion import version_score
from ml_assets.orchestration.assets.ranges import training_months
from ml_assets.orchestration.automation import after_each_gate
from ml_assets.orchestration.compute import StepCompute
from ml_assets.orchestration.plan import BACKTEST_REPORT, CHAMPION_MODEL, FEATURES, MODEL, PipelinePlan
from ml_assets.storage import ProjectStorage
from ml_assets.tasks.report_parts import embedded_png
from ml_assets.tasks.walk_forward import WalkForwardScores
from ml_assets.tracking import MlflowTracking, ModelRegistry, decide_champion
from ml_assets.ui_values import for_ui


def slug(policy: str) -> str:
    return re.sub(r"[^a-z0-9]+", "_", policy.lower()).strip("_")


def build_backtest_report(plan: PipelinePlan) -> dg.AssetsDefinition:
    every_month = dg.AllPartitionMapping()
    may_be_missing = {"allow_missing_partitions": True}

    @dg.asset(
        key=plan.key(BACKTEST_REPORT),
        description=(
            f"Walk-forward backtest: for every month t, the {plan.task.primary_metric.upper()} on t of the "
            "model trained on t-1, models retrained on the last k months, the course baseline, the champion the "
            "gates would have left at t (replayed in month order) and a never-retrained model; a table, a decay "
            "plot and a sentence on which policy wins on this data. Logged to MLflow."
        ),
        ins={
            "features": dg.AssetIn(
                plan.key(FEATURES), partition_mapping=every_month, metadata=may_be_missing
            ),
            "model": dg.AssetIn(plan.key(MODEL), partition_mapping=every_month, metadata=may_be_missing),
            "champion_model": dg.AssetIn(
                plan.key(CHAMPION_MODEL), partition_mapping=every_month, metadata=may_be_missing
            ),
        },
        group_name=plan.name,
        kinds={"scikitlearn", "mlflow", "markdown"},
        io_manager_key="report_io_manager",
        automation_condition=after_each_gate(plan.key(CHAMPION_MODEL)),
        # unpartitioned, but in the same runs as month ranges: the CLI's --partition-range needs every
        # selected asset single-run
        backfill_policy=dg.BackfillPolicy.single_run(),
    )
    def backtest_report(
        context: dg.AssetExecutionContext,
        features: Any,
        model: Any,
        champion_model: Any,
        mlflow_tracking: MlflowTracking,
        storage: ProjectStorage,
        compute: StepCompute,  # the step's native threads and fits at once (orchestration/compute.py)
    ):
        registry = plan.registry(mlflow_tracking)
        # a month whose rows were all dropped (stored while its blocking checks failed) has nothing to fit or score on
        without_rows = sorted(m for m, frame in features.items() if frame is None or len(frame) == 0)
        features = {m: frame for m, frame in features.items() if m not in without_rows}
        if without_rows:
            context.log.warning(f"left out of the backtest, no rows: {', '.join(without_rows)}")
        # scores the model step computed for its window choice are reused, not refitted
        scores = storage.scores(plan.name)
        walk = WalkForwardScores(plan.task, features, None, scores, compute.map)
        rows = backtest_rows(plan, registry, walk, scores, features, model, champion_model)
        context.log.info(f"walk-forward scores: {walk.summary()}")
        report, metadata = backtest_record(plan, registry, rows, sorted(features), without_rows)
        context.log.info(report["verdict"])
        return dg.MaterializeResult(value=report, metadata=metadata)

    return backtest_report


def backtest_rows(
    plan: PipelinePlan,
    registry: ModelRegistry,
    walk: WalkForwardScores,
    scores: ScoreCache,
    features: dict,
    model: dict,
    champion_model: dict,
) -> list[monitoring.BacktestRow]:
    """Every policy's score on every month: the pipeline's own model, retrained windows, the first declared baseline,
    the champion as the gates would have left it, and the first month's model never retrained."""
    months = sorted(features)
    if not plan.chooses_window:
        for month in model:
            # the pipeline's own model, trained on its declared window
            if month in features and model[month] is not None:
                walk.remember(training_months(plan, month, features), model[month])

    def never_retrained(score_window) -> list[monitoring.BacktestRow]:
        """The first month's model on every later month (months[1] is the same model as "the last month")."""
        return [
            monitoring.BacktestRow(m, monitoring.NEVER_RETRAIN, score_window(months[:1], m), months[0])
            for m in months[2:]
        ]

    # the fits no earlier step made, side by side: the window scores of the rows below, asked for once beforehand
    walk.prefetch(
        lambda score: (
            monitoring.walk_forward(
                months, plan.monitoring.backtest_windows, score, lambda *_: None, lambda _: None
            ),
            never_retrained(score),
        )
    )
    task = plan.task

    def score_baseline(train_month: str, month: str) -> float | None:
        """The first declared baseline, fitted on the month before, scored on the month."""
        if not task.baselines:
            return None
        X, y = task.xy(features[train_month])
        return task.primary_metric_of(
            task.build_baseline(task.baselines[0], features[train_month]).fit(X, y), features[month]
        )

    def promotes(candidate, candidate_score, checks_passed, champion, champion_score) -> bool:
        return decide_champion(
            candidate,
            candidate_score,
            checks_passed,
            champion,
            champion_score,
            plan.champion_min_improvement,
            higher_is_better=task.higher_is_better,
        ).promote

    # the champion as the gates would have left it when each month arrived, replayed from none (monitoring.py): its
    # score on a month is the one that month's gate computed when it faced the same champion (one cache entry), or,
    # where a re-run's gate faced a later month's model instead, scored now
    champions = monitoring.replay_champion(
        months,
        champion_model,
        lambda version, month: version_score(plan, registry, scores, version, features[month]),
        promotes,
    )

    baseline_label = task.baselines[0].key.replace("_", " ") if task.baselines else monitoring.COURSE_BASELINE
    rows = monitoring.walk_forward(
        months, plan.monitoring.backtest_windows, walk.score, score_baseline, champions.get, baseline_label
    )
    return rows + never_retrained(walk.score)


def backtest_record(
    plan: PipelinePlan,
    registry: ModelRegistry,
    rows: list[monitoring.BacktestRow],
    months: list[str],
    without_rows: list[str],
) -> tuple[dict, dict]:
    """The backtest's verdict, table and decay plot, logged to MLflow: the stored report and its metadata."""
    metric = plan.task.primary_metric
    found = monitoring.verdict(rows, metric, plan.task.higher_is_better)
    markdown = monitoring.backtest_markdown(rows, found, metric)
    table_months, policies, scores = monitoring.policy_table(rows)
    png = None
    if table_months:
        from ml_assets.plots import decay_plot_png

        png = decay_plot_png(
            table_months,
            policies,
            scores,
            metric.upper(),
            f"{plan.name}: walk-forward backtest, {len(months)} months",
        )
    run_url = registry.log_backtest(
        plan.name,
        [(r.month, slug(r.policy), r.score) for r in rows],
        {slug(p): m for p, m in found.means.items()},
        found.winner,
        metric,
        markdown,
        png,
    )
    report = {
        "pipeline": plan.name,
        "metric": metric,
        "months": months,
        "months_without_rows": without_rows,
        "rows": [asdict(r) for r in rows],
        "common_months": found.months,
        "means": found.means,
        "winner": found.winner,
        "verdict": found.sentence,
        "markdown": markdown,
    }
    metadata = {
        "verdict": dg.MetadataValue.md(found.sentence),
        "winner": found.winner or "none",
        "months_with_data": len(months),
        "months_without_rows": ", ".join(without_rows) or "none",
        "report": dg.MetadataValue.md(embedded_png(markdown, png, "decay plot") if png else markdown),
        **{f"mean_{slug(p)}": for_ui(v) for p, v in found.means.items()},
        **({"mlflow_run": dg.MetadataValue.url(run_url)} if run_url else {}),
    }
    return report, metadata
