"""TrainingPipeline: one YAML file declares a whole ML training pipeline.

raw data -> features -> model -> evaluation report -> champion, with blocking checks, data
versions, declarative automation, a source sensor and (monthly) an ingest schedule, under the
pipeline's own asset-key prefix and group.
"""

from __future__ import annotations

from typing import Annotated, Any

import dagster as dg
from pydantic import Field, model_validator

from ml_assets.components.pipeline_rules import check_pipeline
from ml_assets.components.yaml_schema import SOURCE, part
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
    QualitySpec,
    TargetSpec,
)
from ml_assets.orchestration.assets import build_pipeline_assets
from ml_assets.orchestration.automation import default_sensor_status
from ml_assets.orchestration.partitions import monthly_partitions
from ml_assets.orchestration.plan import RAW_DATA, PipelinePlan
from ml_assets.orchestration.sensors import build_ingest_schedule, build_source_sensor

# each YAML part and the model that validates it (components/yaml_schema.py; the reference in components/reference.py)
PARTS = {
    "target": TargetSpec,
    "features": FeatureSpec,
    "estimator": EstimatorSpec,
    "baselines": list[BaselineSpec],
    "quality": QualitySpec,
    "evaluation": EvaluationSpec,
    "partitioning": PartitioningSpec,
    "mlflow": MlflowSpec,
    "champion": ChampionSpec,
    "automation": AutomationSpec,
    "monitoring": MonitoringSpec,
}


class TrainingPipeline(dg.Component, dg.Model, dg.Resolvable):
    """A whole ML training pipeline from one defs.yaml: raw data -> features -> model -> evaluation report
    -> champion -> predictions, with blocking checks, MLflow tracking and registry, automation, a source sensor
    and (monthly) an ingest schedule and a backtest."""

    name: str = Field(
        description="Asset-key prefix, group and job prefix of the pipeline (a Python identifier)."
    )
    description: Annotated[
        str, dg.Resolver.default(description="One sentence on what the pipeline predicts, shown on its jobs.")
    ] = ""
    task: str = Field(description="regression or classification (ml_assets/tasks/: one folder per kind).")
    # each part below is Any to Dagster's loader, which checks only that the YAML is a mapping (templates may sit
    # anywhere in it); the part's resolver renders the templates, then validates it by its model
    # (components/yaml_schema.py)
    source: Annotated[Any, SOURCE]
    target: Annotated[Any, part(PARTS["target"], "The column the model predicts.")]
    features: Annotated[Any, part(PARTS["features"], "The model's inputs and how rows are cleaned.")] = Field(
        default_factory=FeatureSpec
    )
    estimator: Annotated[Any, part(PARTS["estimator"], "The model's estimator and hyperparameters.")]
    baselines: Annotated[
        Any,
        part(
            PARTS["baselines"],
            "Reference predictors scored on the same rows (the trivial one is always there).",
        ),
    ] = Field(default_factory=list)
    quality: Annotated[Any, part(PARTS["quality"], "Thresholds of the blocking checks.")] = Field(
        default_factory=QualitySpec
    )
    evaluation: Annotated[Any, part(PARTS["evaluation"], "Cross-validation of unpartitioned pipelines.")] = (
        Field(default_factory=EvaluationSpec)
    )
    partitioning: Annotated[Any, part(PARTS["partitioning"], "Monthly partitions, or none.")] = Field(
        default_factory=PartitioningSpec
    )
    mlflow: Annotated[Any, part(PARTS["mlflow"], "MLflow experiment and registered model names.")] = Field(
        default_factory=MlflowSpec
    )
    champion: Annotated[Any, part(PARTS["champion"], "The promotion gate.")] = Field(
        default_factory=ChampionSpec
    )
    automation: Annotated[Any, part(PARTS["automation"], "Sensor, automation and retry settings.")] = Field(
        default_factory=AutomationSpec
    )
    monitoring: Annotated[Any, part(PARTS["monitoring"], "Drift checks, retraining and the backtest.")] = (
        Field(default_factory=MonitoringSpec)
    )

    @model_validator(mode="after")
    def _consistent(self) -> TrainingPipeline:
        check_pipeline(self)
        return self

    def plan(self) -> PipelinePlan:
        from ml_assets.tasks import task_class

        monthly = self.partitioning.monthly
        source = self.source.build()
        task = task_class(self.task)(
            self.name,
            self.target,
            self.features,
            self.estimator,
            self.baselines,
            self.quality,
            self.evaluation,
            monthly is not None,
            source.time_column,
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
            selection=dg.AssetSelection.assets(plan.key(RAW_DATA)),
            description=f"{plan.description or plan.name} Fetch the source's data; automation does the rest.",
        )
        training_job = dg.define_asset_job(
            plan.job_name("training"),
            selection=group,
            description=f"{plan.description or plan.name} raw data -> features -> model -> evaluation "
            "report -> champion.",
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
                    description=f"Materializes {plan.name}'s features, model, report and champion when "
                    "their inputs' data changed.",
                ),
            ],
        )
