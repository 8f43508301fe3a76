"""duration_model: a scikit-learn Pipeline trained on one month, tracked and registered in MLflow."""

from dataclasses import asdict
from pathlib import Path

import dagster as dg
import pandas as pd
from pydantic import Field

import ml_assets
from ml_assets import tracking
from ml_assets.assets.ingestion import frame_fingerprint
from ml_assets.automation import on_upstream_data_change
from ml_assets.features import TARGET, feature_columns
from ml_assets.report import shown
from ml_assets.resources import ModelRegistry, TripSource, end_mlflow_on_run_finished
from ml_assets.training import ModelParams, model_inputs, regression_metrics, train_duration_model, tune_hyperparameters

MODEL_CODE_VERSION = "boosted-trees-v2"


class DurationModelConfig(dg.Config):
    """Hyperparameters of the gradient-boosted part of the model, and the search around them."""

    route_baseline: bool | None = Field(
        default=None,
        description="Boost the residuals of a linear per-route model; unset: the source's default "
        "(on for flights, off for taxi).",
    )
    learning_rate: float = Field(default=ModelParams.learning_rate, gt=0, le=1)
    max_iter: int = Field(default=ModelParams.max_iter, ge=1)
    max_leaf_nodes: int = Field(default=ModelParams.max_leaf_nodes, ge=2)
    min_samples_leaf: int = Field(default=ModelParams.min_samples_leaf, ge=1)
    l2_regularization: float = Field(default=ModelParams.l2_regularization, ge=0)
    random_state: int = ModelParams.random_state
    # Off by default: on the flights the holdout winner inside one month did not carry over to
    # the next (2013-04 -> 05: tuned RMSE 12.835 vs 12.788 for these defaults, course baseline 12.823).
    tuning_trials: int = Field(
        default=0, ge=0, description="Random-search trials (trial 0 = the values above); 0 trains with them directly."
    )
    tuning_time_budget_s: float = Field(default=60.0, gt=0, description="Stop searching once this much time is spent.")

    def to_params(self, source_route_baseline: bool) -> ModelParams:
        values = {k: v for k, v in self.model_dump().items() if k in ModelParams.__dataclass_fields__}
        if values["route_baseline"] is None:
            values["route_baseline"] = source_route_baseline
        return ModelParams(**values)


def skops_types_of(model) -> list[str]:
    import skops.io

    return skops.io.get_untrusted_types(data=skops.io.dumps(model))


def _pip_requirements() -> list[str]:
    from importlib.metadata import version

    return [f"{pkg}=={version(pkg)}" for pkg in ("scikit-learn", "pandas", "numpy", "scipy")]


def build_duration_model(partitions_def: dg.PartitionsDefinition) -> dg.AssetsDefinition:
    @dg.asset(
        name="duration_model",
        partitions_def=partitions_def,
        group_name="modeling",
        kinds={"scikitlearn", "mlflow"},
        io_manager_key="model_io_manager",
        code_version=MODEL_CODE_VERSION,
        automation_condition=on_upstream_data_change(),
        # dagster-mlflow's resource is legacy-style, so every resource is named here rather
        # than as typed parameters (Dagster does not allow both on one asset).
        required_resource_keys={"mlflow", "model_registry", "trip_source"},
        hooks={end_mlflow_on_run_finished},
    )
    def duration_model(
        context: dg.AssetExecutionContext,
        config: DurationModelConfig,
        trip_features: pd.DataFrame,
    ):
        """Trip-duration regressor (scikit-learn Pipeline) trained on this month; logged and registered in MLflow."""
        import mlflow
        import mlflow.sklearn
        from mlflow.models import infer_signature

        month = context.partition_key
        mlf = context.resources.mlflow
        trip_source: TripSource = context.resources.trip_source
        model_registry: ModelRegistry = context.resources.model_registry
        model_registry.point_mlflow_here()
        try:
            model_registry.ensure_registered_model(trip_source.name)
        except tracking.RegistryNameClashError as exc:
            mlflow.end_run(status="FAILED")
            raise dg.Failure(str(exc), allow_retries=False) from exc
        run = mlflow.active_run()
        try:
            mlflow.set_tags(
                {
                    "mlflow.runName": f"duration_model {trip_source.name} {month}",
                    tracking.TAG_ASSET: "duration_model",
                    tracking.TAG_PARTITION: month,
                    tracking.TAG_DATASET: trip_source.name,
                    "dagster.asset_key": context.asset_key.to_user_string(),
                    "dagster.partition_key": month,
                    "dagster.code_version": MODEL_CODE_VERSION,
                    "dagster.input.trip_features.data_version": frame_fingerprint(trip_features),
                }
            )

            def log_trial(trial):
                with mlflow.start_run(run_name=f"trial {trial.number}", nested=True):
                    mlflow.log_params(asdict(trial.params))
                    mlflow.log_metrics({"holdout_rmse": trial.rmse, "fit_seconds": trial.seconds})

            params, trials = config.to_params(trip_source.route_baseline), []
            if config.tuning_trials > 0:
                params, trials = tune_hyperparameters(
                    trip_features, params, config.tuning_trials, config.tuning_time_budget_s, log_trial
                )
            model = train_duration_model(trip_features, params)
            inputs = model_inputs(trip_features)
            fitted = regression_metrics(trip_features[TARGET].to_numpy(), model.predict(inputs))
            categorical, numeric = feature_columns(trip_features)
            mlf.log_params(
                {
                    **asdict(params),
                    "source": trip_source.name,
                    "partition": month,
                    "training_rows": len(trip_features),
                    "features": ",".join(categorical + numeric),
                    "tuning_trials_run": len(trials),
                }
            )
            mlflow.log_metrics({f"train_{k}": v for k, v in fitted.items()})
            example = inputs.head(5)
            info = mlflow.sklearn.log_model(
                model,
                name="model",
                signature=infer_signature(example, model.predict(example)),
                input_example=example,
                registered_model_name=model_registry.registered_model_name,
                code_paths=[str(Path(ml_assets.__file__).parent)],
                pip_requirements=_pip_requirements(),
                # skops refuses types outside its default allow-list; these are the ones this
                # very pipeline (which we just built) consists of.
                skops_trusted_types=skops_types_of(model),
            )
            mlflow.end_run()  # FINISHED now: later steps of this Dagster run must not extend it
        except BaseException:
            mlflow.end_run(status="FAILED")
            raise
        version = info.registered_model_version
        return dg.MaterializeResult(
            value=model,
            metadata={
                "train_month": month,
                "train_rows": len(trip_features),
                "train_rmse": shown(fitted["rmse"]),
                "categorical_features": ", ".join(categorical),
                "numeric_features": ", ".join(numeric),
                "hyperparameters": dg.MetadataValue.json(asdict(params)),
                "tuning": dg.MetadataValue.md(
                    "| trial | holdout RMSE | seconds |\n|---:|---:|---:|\n"
                    + "\n".join(f"| {t.number} | {t.rmse:.3f} | {t.seconds:.1f} |" for t in trials)
                )
                if trials
                else "off",
                "mlflow_run_id": run.info.run_id,
                "mlflow_run": dg.MetadataValue.url(model_registry.run_url(run)),
                "registered_model": model_registry.registered_model_name,
                "model_version": str(version),
                "model_version_url": dg.MetadataValue.url(model_registry.version_url(version)),
                "pipeline": dg.MetadataValue.md(f"```\n{model}\n```"),
            },
        )

    return duration_model
