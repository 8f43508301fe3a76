"""Run a pipeline from its defs.yaml in this process, with real resources under one data folder: what the tests,
the benchmarks and notebooks use to materialize a pipeline without a Dagster instance on disk."""

from __future__ import annotations

import copy
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import dagster as dg
import yaml
from upath import UPath

from ml_assets.cli import RANGE_END_TAG, RANGE_START_TAG
from ml_assets.components import TrainingPipeline
from ml_assets.components.project_resources import build_resources
from ml_assets.orchestration.plan import PipelinePlan

REPO_ROOT = Path(__file__).resolve().parents[1]  # the checkout (an editable install)
DEFS = REPO_ROOT / "ml_assets" / "defs"


def deep_merge(base: dict, overrides: dict) -> dict:
    merged = copy.deepcopy(base)
    for key, value in overrides.items():
        if isinstance(value, dict) and isinstance(merged.get(key), dict):
            merged[key] = deep_merge(merged[key], value)
        else:
            merged[key] = value
    return merged


def pipeline_attributes(pipeline: str, **overrides: Any) -> dict:
    """The `attributes:` of ml_assets/defs/<name>/defs.yaml (templates unrendered), with overrides merged in."""
    document = yaml.safe_load((DEFS / pipeline / "defs.yaml").read_text())
    return deep_merge(document["attributes"], overrides)


@dataclass
class Pipeline:
    """A loaded pipeline: its component, plan, Definitions and shared resources under one data folder."""

    component: TrainingPipeline
    data_dir: Path

    @property
    def plan(self) -> PipelinePlan:
        return self.component.plan()

    @property
    def name(self) -> str:
        return self.component.name

    def key(self, asset: str) -> dg.AssetKey:
        return self.plan.key(asset)

    def resources(self) -> dict:
        return build_resources(str(self.data_dir))

    def defs(self) -> dg.Definitions:
        return dg.Definitions.merge(
            dg.build_defs_for_component(self.component), dg.Definitions(resources=self.resources())
        )

    @property
    def registry(self):
        return self.plan.registry(self.resources()["mlflow_tracking"])

    @property
    def tracking_uri(self) -> str:
        return f"sqlite:///{self.data_dir}/mlflow/mlflow.db"

    def warehouse(self, asset: str) -> UPath:
        return UPath(self.data_dir) / "warehouse" / self.name / asset

    def report(self, partition: str | None = None, asset: str = "evaluation_report") -> UPath:
        folder = UPath(self.data_dir) / "reports" / self.name
        return folder / asset / f"{partition}.json" if partition else folder / f"{asset}.json"

    def materialize(
        self,
        instance: dg.DagsterInstance,
        partition: str | None = None,
        assets: list[str] | None = None,
        months: tuple[str, str] | None = None,
        **kwargs,
    ) -> dg.ExecuteInProcessResult:
        """One partition, or with `months=(first, last)` a range in one run, as a single-run backfill runs it."""
        definitions = dg.build_defs_for_component(self.component)
        selection = [self.key(a) for a in assets] if assets else None
        if months:
            kwargs["tags"] = {RANGE_START_TAG: months[0], RANGE_END_TAG: months[1], **kwargs.get("tags", {})}
        return dg.materialize(
            list(definitions.assets),
            selection=selection,
            partition_key=partition,
            resources=self.resources(),
            instance=instance,
            raise_on_error=False,
            **kwargs,
        )


def load_pipeline(pipeline: str, data_dir: Path, **overrides: Any) -> Pipeline:
    return Pipeline(
        TrainingPipeline.resolve_from_dict(pipeline_attributes(pipeline, **overrides)), Path(data_dir)
    )


EXAMPLES = REPO_ROOT / "docs" / "examples"


def load_yaml_pipeline(path: Path, data_dir: Path, **overrides: Any) -> Pipeline:
    """A pipeline from any defs.yaml (the guide's examples live in docs/examples/<name>/defs.yaml)."""
    attributes = deep_merge(yaml.safe_load(Path(path).read_text())["attributes"], overrides)
    return Pipeline(TrainingPipeline.resolve_from_dict(attributes), Path(data_dir))


def check_results(result: dg.ExecuteInProcessResult) -> dict[str, bool]:
    return {
        e.asset_check_evaluation_data.check_name: e.asset_check_evaluation_data.passed
        for e in result.all_events
        if e.event_type == dg.DagsterEventType.ASSET_CHECK_EVALUATION
    }


def failure_messages(result: dg.ExecuteInProcessResult) -> str:
    parts = []
    for event in result.get_step_failure_events():
        data = event.step_failure_data
        if data.user_failure_data and data.user_failure_data.description:
            parts.append(data.user_failure_data.description)
        error = data.error
        while error is not None:  # the user's exception is the cause of Dagster's wrapper
            parts.append(error.message)
            error = error.cause
    return "\n".join(parts)
