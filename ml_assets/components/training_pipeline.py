"""TrainingPipeline: one YAML file declares a whole ML training pipeline.

raw data -> features -> model -> evaluation report -> champion, with blocking checks, data
versions, declarative automation, a source sensor and (monthly) an ingest schedule, under the
pipeline's own asset-key prefix and group.
"""

from __future__ import annotations

from typing import Literal

import dagster as dg
from pydantic import Field, model_validator

from ml_assets.assets import build_pipeline_assets
from ml_assets.config import (
    AutomationSpec,
    ChampionSpec,
    EvaluationSpec,
    FeatureSpec,
    MlflowSpec,
    ModelSpec,
    MonitoringSpec,
    PartitioningSpec,
    PipelineConfigError,
    QualitySpec,
    SourceSpec,
    TargetSpec,
    check_task_fits,
)
from ml_assets.partitions import monthly_partitions
from ml_assets.plan import RAW, PipelinePlan
from ml_assets.sensors import build_ingest_schedule, build_source_sensor
from ml_assets.sources.readers import build_source


def check_model_params(task: str, model: ModelSpec) -> None:
    """Unknown hyperparameter names fail at load time, naming them, not in the middle of a run."""
    from ml_assets.estimators import CLASSIFIER_PARAMS, ModelParams

    if task == "regression":
        allowed = set(ModelParams.__dataclass_fields__) - {"random_state"}
    else:
        allowed = set(CLASSIFIER_PARAMS[model.kind])
    unknown = sorted(set(model.params) - allowed)
    if unknown:
        raise PipelineConfigError(
            f"estimator.params {unknown} are not hyperparameters of {model.kind}; allowed: {sorted(allowed)}"
        )


class TrainingPipeline(dg.Component, dg.Model, dg.Resolvable):
    """A whole ML training pipeline from one defs.yaml: raw data -> features -> model -> evaluation report
    -> champion, with blocking checks, MLflow tracking and registry, automation, a source sensor and
    (monthly) an ingest schedule."""

    name: str = Field(description="Asset-key prefix, group and job prefix of the pipeline (a Python identifier).")
    description: str = Field(default="", description="One sentence on what the pipeline predicts, shown on its jobs.")
    task: Literal["regression", "classification"]
    source: SourceSpec
    target: TargetSpec
    features: FeatureSpec = Field(default_factory=FeatureSpec)
    estimator: ModelSpec
    quality: QualitySpec
    evaluation: EvaluationSpec = Field(default_factory=EvaluationSpec)
    partitioning: PartitioningSpec = Field(default_factory=PartitioningSpec)
    mlflow: MlflowSpec = Field(default_factory=MlflowSpec)
    champion: ChampionSpec = Field(default_factory=ChampionSpec)
    automation: AutomationSpec = Field(default_factory=AutomationSpec)
    monitoring: MonitoringSpec = Field(default_factory=MonitoringSpec)

    @model_validator(mode="after")
    def _consistent(self) -> TrainingPipeline:
        check_task_fits(self.name, self.task, self.source, self.target, self.estimator, self.quality, self.partitioning)
        check_model_params(self.task, self.estimator)
        return self

    def plan(self) -> PipelinePlan:
        from ml_assets.tasks import TabularClassification, TripRegression

        if self.task == "regression":
            task = TripRegression(self.name, self.target, self.features, self.estimator, self.quality)
        else:
            task = TabularClassification(self.name, self.target, self.features, self.estimator, self.quality, self.evaluation)
        monthly = self.partitioning.monthly
        return PipelinePlan(
            name=self.name,
            description=self.description,
            task=task,
            source=build_source(self.source),
            partitions_def=monthly_partitions(monthly) if monthly else None,
            experiment=self.mlflow.experiment or f"ml_assets/{self.name}",
            registered_model=self.mlflow.registered_model or f"{self.name}_{self.task}",
            champion_min_improvement=self.champion.min_improvement,
            automation=self.automation,
            months_per_run=monthly.months_per_run if monthly else None,
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
                    default_status=dg.DefaultSensorStatus.RUNNING,
                    minimum_interval_seconds=plan.automation.automation_interval_s,
                    description=f"Materializes {plan.name}'s features, model, report and champion when their inputs' data changed.",
                ),
            ],
        )
