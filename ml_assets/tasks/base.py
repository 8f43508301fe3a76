"""What every task kind shares: the `Task` the assets call, made of its parts (tasks/cleaning.py, modeling.py,
protocols.py, report_parts.py), with the checks it declares.

- Monthly pipelines: the model trained on month M-1 is scored on month M beside baselines fitted on M-1 (the course
  protocol; it is how the model will be used: trained on the past, applied to the next month).
- Unpartitioned pipelines: repeated K-fold cross-validation of the model and every baseline on the same folds
  (mean ± sd, paired differences), plus a held-out split scored by the registered model.

A task kind (tasks/<kind>/) supplies what differs: how the target is read, its metrics, the trivial baseline,
its checks and the report's task-specific parts. Pure pandas/scikit-learn, imported lazily so the code location
loads fast.
"""

from __future__ import annotations

from typing import Any, ClassVar

from ml_assets.config import BaselineSpec, EstimatorSpec, EvaluationSpec, FeatureSpec, QualitySpec, TargetSpec
from ml_assets.tasks import checks
from ml_assets.tasks.cleaning import RowCleaning
from ml_assets.tasks.modeling import ModelFitting
from ml_assets.tasks.protocols import EvaluationProtocols
from ml_assets.tasks.report_parts import ReportParts


class Task(RowCleaning, ModelFitting, EvaluationProtocols, ReportParts):
    """The interface the assets call: what a kind declares (its metrics, trivial baseline, threshold) and the checks
    it runs, with the behaviour every kind shares from its parts."""

    kind: ClassVar[str]
    primary_metric: ClassVar[str]
    higher_is_better: ClassVar[bool]
    metric_names: ClassVar[tuple[str, ...]]
    lower_is_better: ClassVar[frozenset[str]]
    trivial_key: ClassVar[str]  # the always-present baseline (mean predictor, majority class)
    trivial_name: ClassVar[str]
    threshold_setting: ClassVar[str]  # quality.<setting>; a kind without one has no threshold check
    catalog: ClassVar[str] = (
        ""  # which column of learning/catalog.py names its estimators (default: its kind)
    )

    @classmethod
    def estimator_task(cls) -> str:
        return cls.catalog or cls.kind

    def __init__(
        self,
        name: str,
        target: TargetSpec,
        features: FeatureSpec,
        estimator: EstimatorSpec,
        baselines: list[BaselineSpec],
        quality: QualitySpec,
        evaluation: EvaluationSpec,
        monthly: bool,
        time_column: str | None,
    ):
        self.name, self.target, self.feature_spec, self.estimator = name, target, features, estimator
        self.baselines, self.quality, self.evaluation = list(baselines), quality, evaluation
        self.monthly, self.time_column = monthly, time_column
        self.target_column = target.column

    def declared(self) -> dict[str, Any]:
        """Everything declared that a score depends on (a cached score's key): not the quality thresholds."""
        return {
            "kind": self.kind,
            "target": self.target.model_dump(mode="json"),
            "features": self.feature_spec.model_dump(mode="json"),
            "estimator": self.estimator.model_dump(mode="json"),
            "baselines": [b.model_dump(mode="json") for b in self.baselines],
            # how many processes: not a score
            "evaluation": self.evaluation.model_dump(mode="json", exclude={"cv_jobs"}),
            "monthly": self.monthly,
        }

    # ---- load-time rules of the kind (called by config.check_pipeline) ------------------------------------------
    @classmethod
    def check_spec(cls, spec) -> None:
        """Settings of the YAML this kind refuses; raise PipelineConfigError naming the setting."""

    # ---- checks -----------------------------------------------------------------------------------------------
    @property
    def threshold(self) -> float | None:
        return getattr(self.quality, self.threshold_setting, None)

    @property
    def threshold_check(self) -> str:
        return f"{self.primary_metric}_within_threshold"

    @property
    def raw_check_names(self) -> list[str]:
        names = [checks.RAW_SCHEMA, checks.RAW_NOT_EMPTY]
        if self.monthly and self.time_column:
            names.append(checks.RAW_ROWS_IN_MONTH)
        return names + self.extra_raw_checks()

    @property
    def feature_check_names(self) -> list[str]:
        return [
            checks.FEATURES_NO_NULLS,
            checks.FEATURES_RETENTION,
            checks.FEATURES_ENOUGH_ROWS,
        ] + self.extra_feature_checks()

    @property
    def evaluation_check_names(self) -> list[str]:
        names = [self.threshold_check] if self.threshold is not None else []
        names.append(f"beats_{self.trivial_key}")
        # the re-computation of every reported figure from what was stored (tasks/recompute.py), run after
        # the report is stored
        return names + [b.check_name for b in self.baselines if b.check_name] + [checks.FIGURES_RECOMPUTED]

    def check_descriptions(self) -> dict[str, str]:
        where = "on the next month" if self.monthly else "in cross-validation"
        descriptions = {
            self.threshold_check: f"The model's {self.primary_metric} {where} is within "
            f"quality.{self.threshold_setting}.",
            f"beats_{self.trivial_key}": f"The model beats the {self.trivial_name} {where}.",
        }
        for b in self.baselines:
            verb = "beats" if b.check == "beats" else "is not worse than"
            descriptions[b.check_name or ""] = f"The model {verb} the declared baseline {b.name} {where}."
        return descriptions

    def extra_raw_checks(self) -> list[str]:
        return []

    def extra_feature_checks(self) -> list[str]:
        return []
