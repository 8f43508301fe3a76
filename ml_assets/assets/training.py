"""duration_model: a scikit-learn Pipeline trained on one month of trip features."""


from dataclasses import asdict

import dagster as dg
import pandas as pd
from sklearn.pipeline import Pipeline
from pydantic import Field

from ml_assets.features import feature_columns
from ml_assets.training import ModelParams, regression_metrics, train_duration_model, model_inputs
from ml_assets.features import TARGET


class DurationModelConfig(dg.Config):
    """Hyperparameters of the gradient-boosted part of the model."""

    learning_rate: float = Field(default=ModelParams.learning_rate, gt=0, le=1)
    max_iter: int = Field(default=ModelParams.max_iter, ge=1)
    max_leaf_nodes: int = Field(default=ModelParams.max_leaf_nodes, ge=2)
    min_samples_leaf: int = Field(default=ModelParams.min_samples_leaf, ge=1)
    l2_regularization: float = Field(default=ModelParams.l2_regularization, ge=0)
    random_state: int = ModelParams.random_state

    def to_params(self) -> ModelParams:
        return ModelParams(**self.model_dump())


def build_duration_model(partitions_def: dg.PartitionsDefinition) -> dg.AssetsDefinition:
    @dg.asset(
        name="duration_model",
        partitions_def=partitions_def,
        group_name="training",
        kinds={"scikitlearn"},
        io_manager_key="model_io_manager",
    )
    def duration_model(
        context: dg.AssetExecutionContext, config: DurationModelConfig, trip_features: pd.DataFrame
    ) -> dg.MaterializeResult[Pipeline]:
        """Trip-duration regressor (scikit-learn Pipeline) trained on this month's features."""
        params = config.to_params()
        model = train_duration_model(trip_features, params)
        fitted = regression_metrics(trip_features[TARGET].to_numpy(), model.predict(model_inputs(trip_features)))
        categorical, numeric = feature_columns(trip_features)
        return dg.MaterializeResult(
            value=model,
            metadata={
                "train_month": context.partition_key,
                "train_rows": len(trip_features),
                "train_rmse": fitted["rmse"],
                "categorical_features": ", ".join(categorical),
                "numeric_features": ", ".join(numeric),
                "hyperparameters": dg.MetadataValue.json(asdict(params)),
                "pipeline": dg.MetadataValue.md(f"```\n{model}\n```"),
            },
        )

    return duration_model
