"""TrainingPipeline: one YAML file declares a whole ML training pipeline.

raw data -> features -> model -> evaluation report -> champion, with blocking checks, data
versions, declarative automation, a source sensor and (monthly) an ingest schedule, under the
pipeline's own asset-key prefix and group.
"""

from __future__ import annotations

from typing import Annotated, Any

import dagster as dg
from pydantic import Field, model_validator

from ml_assets.config import (
    AutomationSpec,
    BaselineSpec,
    ChampionSpec,
    EstimatorSpec,
    EvaluationSpec,
    FeatureSpec,
    MlflowSpec,
    MonitoringSpec,
    PartitioningSpec,
    PipelineConfigError,
    QualitySpec,
    TargetSpec,
    check_pipeline,
    described_for_dagster,
)
from ml_assets.orchestration.assets import build_pipeline_assets
from ml_assets.orchestration.automation import default_sensor_status
from ml_assets.orchestration.partitions import monthly_partitions
from ml_assets.orchestration.plan import RAW, PipelinePlan
from ml_assets.orchestration.sensors import build_ingest_schedule, build_source_sensor
from ml_assets.sources import SOURCE_KINDS, SourceConfigError, SourceSpecBase, parse_source


def _resolve_source(context: dg.ResolutionContext, value: Any) -> SourceSpecBase:
    try:
        return parse_source(context.resolve_value(value))
    except SourceConfigError as exc:
        raise PipelineConfigError(str(exc)) from None


@described_for_dagster
class TrainingPipeline(dg.Component, dg.Model, dg.Resolvable):
    """A whole ML training pipeline from one defs.yaml: raw data -> features -> model -> evaluation report
    -> champion -> predictions, with blocking checks, MLflow tracking and registry, automation, a source sensor
    and (monthly) an ingest schedule and a backtest."""

    name: str = Field(description="Asset-key prefix, group and job prefix of the pipeline (a Python identifier).")
    description: str = Field(default="", description="One sentence on what the pipeline predicts, shown on its jobs.")
    task: str = Field(description="regression or classification (ml_assets/tasks/: one folder per kind).")
    source: Annotated[
        Any,  # a SourceSpecBase subclass, chosen by `kind` in _resolve_source
        dg.Resolver(
            _resolve_source,
            model_field_type=dict[str, Any],
            description=f"Where the raw data comes from: a mapping with `kind` (one of {sorted(SOURCE_KINDS)}) and that "
            "kind's settings (ml_assets/sources/<kind>.py; docs/bring-your-own-data.md).",
        ),
    ]
    target: TargetSpec = Field(description="The column the model predicts.")
    features: FeatureSpec = Field(default_factory=FeatureSpec, description="The model's inputs and how rows are cleaned.")
    estimator: EstimatorSpec = Field(description="The model's estimator and hyperparameters.")
    baselines: list[BaselineSpec] = Field(
        default_factory=list, description="Reference predictors scored on the same rows (the trivial one is always there)."
    )
    quality: QualitySpec = Field(default_factory=QualitySpec, description="Thresholds of the blocking checks.")
    evaluation: EvaluationSpec = Field(default_factory=EvaluationSpec, description="Cross-validation of unpartitioned pipelines.")
    partitioning: PartitioningSpec = Field(default_factory=PartitioningSpec, description="Monthly partitions, or none.")
    mlflow: MlflowSpec = Field(default_factory=MlflowSpec, description="MLflow experiment and registered model names.")
    champion: ChampionSpec = Field(default_factory=ChampionSpec, description="The promotion gate.")
    automation: AutomationSpec = Field(default_factory=AutomationSpec, description="Sensor, automation and retry settings.")
    monitoring: MonitoringSpec = Field(default_factory=MonitoringSpec, description="Drift checks, retraining and the backtest.")

    @model_validator(mode="after")
    def _consistent(self) -> TrainingPipeline:
        check_pipeline(self)
        return self

    def plan(self) -> PipelinePlan:
        from ml_assets.tasks import task_class

        monthly = self.partitioning.monthly
        source = self.source.build()
        task = task_class(self.task)(
            self.name, self.target, self.features, self.estimator, self.baselines, self.quality, self.evaluation,
            monthly is not None, source.time_column,
        )
        return PipelinePlan(
            name=self.name,
            description=self.description,
            task=task,
            source=source,
            partitions_def=monthly_partitions(monthly) if monthly else None,
            experiment=self.mlflow.experiment or f"ml_assets/{self.name}",
            registered_model=self.mlflow.registered_model or f"{self.name}_{self.task}",
            champion_min_improvement=self.champion.min_improvement,
            automation=self.automation,
            months_per_run=monthly.months_per_run if monthly else None,
            training_window=monthly.training_window if monthly else 1,
            window_evidence_months=monthly.window_evidence_months if monthly else 3,
            monitoring=self.monitoring,
        )

    def build_defs(self, context: dg.ComponentLoadContext) -> dg.Definitions:
        plan = self.plan()
        group = dg.AssetSelection.groups(plan.name)
        ingest_job = dg.define_asset_job(
            plan.job_name("ingest"),
            selection=dg.AssetSelection.assets(plan.key(RAW)),
            description=f"{plan.description or plan.name} Fetch the source's data; automation does the rest.",
        )
        training_job = dg.define_asset_job(
            plan.job_name("training"),
            selection=group,
            description=f"{plan.description or plan.name} raw data -> features -> model -> evaluation report -> champion.",
        )
        return dg.Definitions(
            assets=build_pipeline_assets(plan),
            jobs=[ingest_job, training_job],
            schedules=[build_ingest_schedule(plan, ingest_job)] if plan.monthly else [],
            sensors=[
                build_source_sensor(plan, ingest_job),
                dg.AutomationConditionSensorDefinition(
                    plan.job_name("automation"),
                    target=group,
                    default_status=default_sensor_status(),
                    minimum_interval_seconds=plan.automation.automation_interval_s,
                    description=f"Materializes {plan.name}'s features, model, report and champion when their inputs' data changed.",
                ),
            ],
        )
