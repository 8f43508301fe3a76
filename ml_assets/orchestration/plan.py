"""A pipeline as the asset factories see it: resolved from its defs.yaml by the component."""

from __future__ import annotations

from dataclasses import dataclass, field

import dagster as dg

from ml_assets.config import AutomationSpec, MonitoringSpec
from ml_assets.sources.base import DataSource
from ml_assets.tasks.base import Task
from ml_assets.tracking import MlflowTracking, ModelRegistry

RAW_DATA, FEATURES, MODEL, EVALUATION_REPORT, CHAMPION_MODEL = (
    "raw_data",
    "features",
    "model",
    "evaluation_report",
    "champion_model",
)
PREDICTIONS, BACKTEST_REPORT, DRIFT_ALARM = "predictions", "backtest_report", "drift_alarm"
CHAMPION_ALIAS = "champion_alias"
ASSET_NAMES = (
    RAW_DATA,
    FEATURES,
    MODEL,
    EVALUATION_REPORT,
    CHAMPION_MODEL,
    PREDICTIONS,
)  # every pipeline; monthly ones add BACKTEST_REPORT


@dataclass(frozen=True)
class PipelinePlan:
    name: str
    description: str
    task: Task
    source: DataSource
    partitions_def: dg.MonthlyPartitionsDefinition | None
    experiment: str
    registered_model: str
    champion_min_improvement: float
    automation: AutomationSpec
    months_per_run: int | None = None
    training_window: int | str = 1  # months, or "backtest"
    window_evidence_months: int = 3
    monitoring: MonitoringSpec = field(default_factory=MonitoringSpec)

    @property
    def chooses_window(self) -> bool:
        """`training_window: backtest`: each month's window is the one the walk-forward backtest scored
        best before it."""
        return self.training_window == "backtest"

    @property
    def fixed_window(self) -> int:
        return 1 if self.chooses_window else int(self.training_window)

    @property
    def months_read_by_model(self) -> int:
        """How many months up to M the model of M reads: its window, or with a chosen window the evidence months
        before M and, before each of them, the longest candidate window."""
        if self.chooses_window:
            return self.window_evidence_months + max(self.monitoring.backtest_windows) + 1
        return self.fixed_window

    def key(self, asset: str) -> dg.AssetKey:
        return dg.AssetKey([self.name, asset])

    @property
    def monthly(self) -> bool:
        return self.partitions_def is not None

    @property
    def backfill_policy(self) -> dg.BackfillPolicy | None:
        """Backfills run a range of months per run: a process start, the code location's import and
        the run's bookkeeping are paid once per range, not once per month and asset."""
        if not self.monthly:
            return None
        if self.months_per_run is None:
            return dg.BackfillPolicy.single_run()
        return dg.BackfillPolicy.multi_run(max_partitions_per_run=self.months_per_run)

    def registry(self, mlflow: MlflowTracking) -> ModelRegistry:
        return mlflow.registry(self.experiment, self.registered_model, self.name)

    def job_name(self, what: str) -> str:
        return f"{self.name}_{what}"
