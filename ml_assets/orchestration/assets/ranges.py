"""Monthly assets run over a range of months: a single-run backfill covers many, a sensor or a
click covers one. These helpers turn per-month step results into one materialization.

Dagster records one materialization per month of the range, all with the metadata and check
results given here, so a range's metadata names its months and the per-month figures live in a
`by_month` table (and in each month's stored file).
"""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import Any

import dagster as dg

from ml_assets import monitoring
from ml_assets.months import is_month, month_span
from ml_assets.orchestration.checks import check_result
from ml_assets.orchestration.plan import PipelinePlan
from ml_assets.storage.io_managers import ByMonth
from ml_assets.tasks.checks import CheckOutcome
from ml_assets.tracking import TAG_PARTITION


def months_of(plan: PipelinePlan, context: dg.AssetExecutionContext) -> list[str | None]:
    """The months this step materializes, oldest first ([None] for an unpartitioned pipeline)."""
    return sorted(context.partition_keys) if plan.monthly else [None]


def training_months(plan: PipelinePlan, month: str, available, window: int | None = None) -> list[str]:
    """The months of `month`'s training window (the declared one, or `window` months) that are stored, oldest first:
    `monitoring.stored_window`, the definition the backtest and the window choice score."""
    return monitoring.stored_window(available, month, window or plan.fixed_window)


def raw_value(value: Any) -> Any:
    return value.value if isinstance(value, dg.MetadataValue) else value


def combined_metadata(
    by_month: dict[str | None, dict[str, Any]], context: dg.AssetExecutionContext | None = None
) -> dict[str, Any]:
    """One month (or unpartitioned): its metadata. A range: the months and a per-month table for every partition,
    and (given the step's context) each month's own metadata, report and plot included, on its own partition's
    materialization, so the UI shows every month as a month-by-month run would and plots them across partitions."""
    if len(by_month) == 1:
        return next(iter(by_month.values()))
    months = sorted(by_month)
    if context is not None:
        for month in months:
            context.add_asset_metadata(by_month[month], partition_key=month)
    table = {
        month: {k: raw_value(v) for k, v in by_month[month].items() if not isinstance(v, dg.MetadataValue)}
        for month in months
    }
    return {"months": month_span(months, count=True), "by_month": dg.MetadataValue.json(table)}


def log_failed_checks(context: dg.AssetExecutionContext, results: list[CheckOutcome]) -> None:
    """A failed check's month and figures in the step's log (the CLI and `dagster dev` show it), e.g.
    `nyc_flights/evaluation_report[2013-05]: check rmse_within_threshold failed: rmse 8.1 > max_rmse 8`."""
    from ml_assets.tasks.checks import figures

    for result in results:
        if not result.passed:
            month = raw_value((result.metadata or {}).get("month", "")) or ""
            where = f"[{month}]" if month else ""
            context.log.error(
                f"{context.asset_key.to_user_string()}{where}: check {result.check_name} failed: {figures(result)}"
            )


def combined_checks(by_month: dict[str | None, list[CheckOutcome]]) -> list[dg.AssetCheckResult]:
    """One result per check for the whole range: passed only if it passed in every month judged;
    the metadata names the months judged, the failing ones, and the first failure's figures."""
    if len(by_month) == 1:
        return [check_result(outcome) for outcome in next(iter(by_month.values()))]
    names: list[str] = []
    for results in by_month.values():
        names += [r.check_name for r in results if r.check_name not in names]
    combined = []
    for name in names:
        results = {m: r for m, rs in sorted(by_month.items()) for r in rs if r.check_name == name}
        failed = [m for m, r in results.items() if not r.passed]
        shown_month = failed[0] if failed else sorted(results)[-1]
        detail = {k: v for k, v in (results[shown_month].metadata or {}).items() if k != "month"}
        combined.append(
            check_result(
                CheckOutcome(
                    name,
                    not failed,
                    {
                        "months_judged": month_span(sorted(results), count=True),
                        "months_failed": ", ".join(failed) or "none",
                        "figures_of": shown_month,
                        **detail,
                    },
                    results[shown_month].severity,
                )
            )
        )
    return combined


def value_of(plan: PipelinePlan, by_month: dict[str | None, Any]) -> Any:
    """What the IO manager stores: one value per month, or the single value of an unpartitioned pipeline."""
    return ByMonth(by_month) if plan.monthly else by_month[None]


@dataclass
class StepOutput:
    """What a step made for each month of its range (the key None: an unpartitioned pipeline's table): the values the
    IO manager stores, the metadata and the check outcomes, and the data version of the whole range."""

    values: dict[str | None, Any] = field(default_factory=dict)
    metadata: dict[str | None, dict[str, Any]] = field(default_factory=dict)
    checks: dict[str | None, list[CheckOutcome]] = field(default_factory=dict)
    data_version: str | None = None

    def add(
        self,
        month: str | None,
        value: Any,
        metadata: dict[str, Any],
        checks: list[CheckOutcome] | None = None,
    ) -> None:
        self.values[month], self.metadata[month] = value, metadata
        if checks is not None:
            self.checks[month] = checks

    def failed_checks(self) -> list[CheckOutcome]:
        return [r for results in self.checks.values() for r in results if not r.passed]


def stored(plan: PipelinePlan, context: dg.AssetExecutionContext, output: StepOutput) -> dg.Output:
    """The step's values as one output of its range (the IO manager stores them), with their metadata; its checks
    follow (`checked`) when they judge what was stored."""
    months = sorted(output.values, key=lambda m: m or "")
    metadata = combined_metadata({m: output.metadata[m] for m in months}, context)
    return dg.Output(value_of(plan, {m: output.values[m] for m in months}), metadata=metadata)


def materialized(
    plan: PipelinePlan, context: dg.AssetExecutionContext, output: StepOutput
) -> dg.MaterializeResult:
    """The step's output as one materialization of its range, its failed checks named in the log."""
    log_failed_checks(context, output.failed_checks())
    months = sorted(output.values, key=lambda m: m or "")
    return dg.MaterializeResult(
        value=value_of(plan, {m: output.values[m] for m in months}),
        metadata=combined_metadata({m: output.metadata[m] for m in months}, context),
        check_results=combined_checks(output.checks) if output.checks else None,
        data_version=dg.DataVersion(output.data_version) if output.data_version else None,
    )


def checked(context: dg.AssetExecutionContext, output: StepOutput) -> list[dg.AssetCheckResult]:
    """The step's check results, one per check for its range, its failures named in the log."""
    log_failed_checks(context, output.failed_checks())
    return combined_checks(output.checks)


def learned_from(run) -> tuple[str, list[str]]:
    """What a registered version's training run (its MLflow run data) learned from: its partition tag (a month, "all"
    or "unknown") and the months, its training_months (a window of more than one month) else that month."""
    trained_on = (run.tags or {}).get(TAG_PARTITION, "unknown")
    listed = [m.strip() for m in str((run.params or {}).get("training_months", "")).split(",") if m.strip()]
    return trained_on, listed or ([trained_on] if is_month(trained_on) else [])
