"""MLflow helpers (no Dagster): tracking URI checks, run lookup, champion decisions, plots.

MLflow keeps the runs, the registered model versions and the `champion` alias; it keeps
no history of the alias, so the `champion_model` asset's materializations are that history.
"""

from __future__ import annotations

import io
import urllib.error
import urllib.parse
import urllib.request
from dataclasses import dataclass
from pathlib import Path

import numpy as np

SUPPORTED_SCHEMES = ("sqlite", "postgresql", "mysql", "mssql", "file", "http", "https", "databricks")


class TrackingUnavailableError(RuntimeError):
    """The MLflow tracking URI is malformed or its server does not answer."""


class RegistryNameClashError(RuntimeError):
    """The registered model name is taken by another dataset or by something outside ml_assets."""


def check_tracking_uri(uri: str, timeout_s: float = 5.0) -> None:
    """Fail fast, naming the URI, instead of letting MLflow retry for minutes or log nowhere."""
    scheme = urllib.parse.urlparse(uri).scheme.split("+")[0]
    if scheme not in SUPPORTED_SCHEMES:
        raise TrackingUnavailableError(
            f"MLflow tracking URI {uri!r} is not usable: scheme {scheme or '(none)'!r} is not one of {SUPPORTED_SCHEMES} "
            "(a local store is written sqlite:///path/mlflow.db)"
        )
    if scheme == "sqlite":
        prepare_sqlite_store(uri)
    if scheme in ("http", "https"):
        health = uri.rstrip("/") + "/health"
        try:
            with urllib.request.urlopen(health, timeout=timeout_s) as response:
                response.read(64)
        except (urllib.error.URLError, OSError) as exc:
            raise TrackingUnavailableError(f"MLflow tracking server {uri} does not answer at {health}: {exc}") from exc


def prepare_sqlite_store(uri: str) -> None:
    """Create the embedded store's tables under a file lock.

    MLflow creates and migrates a new SQLite store on first use; two runs doing it at once (two
    months of a backfill, say) fail with "table runs already exists" or "duplicate column".
    """
    import fcntl

    from mlflow import MlflowClient

    database = Path(urllib.parse.urlparse(uri).path)
    database.parent.mkdir(parents=True, exist_ok=True)
    with open(f"{database}.init-lock", "a") as lock:
        fcntl.flock(lock, fcntl.LOCK_EX)  # released when the file closes
        client = MlflowClient(tracking_uri=uri, registry_uri=uri)  # MLflow caches the store per process
        client.search_experiments(max_results=1)
        client.search_registered_models(max_results=1)


def run_url(ui_base_url: str, experiment_id: str, run_id: str) -> str:
    return f"{ui_base_url.rstrip('/')}/#/experiments/{experiment_id}/runs/{run_id}"


def model_version_url(ui_base_url: str, name: str, version: str | int) -> str:
    return f"{ui_base_url.rstrip('/')}/#/models/{urllib.parse.quote(name)}/versions/{version}"


@dataclass(frozen=True)
class ChampionDecision:
    promote: bool
    reason: str


def decide_champion(
    candidate_version: str,
    candidate_rmse: float,
    checks_passed: bool,
    champion_version: str | None,
    champion_rmse: float | None,
    min_relative_improvement: float,
) -> ChampionDecision:
    """Promote only a checked model that beats the champion on the same month by the tolerance."""
    if not checks_passed:
        return ChampionDecision(False, f"version {candidate_version} failed a blocking check; the champion stays")
    if champion_version is None or champion_rmse is None:
        return ChampionDecision(True, f"no champion yet: version {candidate_version} (RMSE {candidate_rmse:.3f}) becomes the first")
    if str(champion_version) == str(candidate_version):
        return ChampionDecision(False, f"version {candidate_version} already is the champion")
    needed = champion_rmse * (1.0 - min_relative_improvement)
    if candidate_rmse < champion_rmse and candidate_rmse <= needed:
        return ChampionDecision(
            True,
            f"version {candidate_version} RMSE {candidate_rmse:.3f} beats champion version {champion_version} "
            f"RMSE {champion_rmse:.3f} on the same month by {100 * (1 - candidate_rmse / champion_rmse):.2f}% "
            f"(needed {100 * min_relative_improvement:.2f}%)",
        )
    return ChampionDecision(
        False,
        f"version {candidate_version} RMSE {candidate_rmse:.3f} does not beat champion version {champion_version} "
        f"RMSE {champion_rmse:.3f} by {100 * min_relative_improvement:.2f}% (needed <= {needed:.3f}); the champion stays",
    )


def prediction_plot_png(actual: np.ndarray, predicted: np.ndarray, title: str) -> bytes:
    """Predicted vs actual (hexbin) and the residual histogram, as a small PNG."""
    import matplotlib

    matplotlib.use("Agg")
    import matplotlib.pyplot as plt

    fig, (left, right) = plt.subplots(1, 2, figsize=(8, 3.2), dpi=80)
    low, high = float(min(actual.min(), predicted.min())), float(max(actual.max(), predicted.max()))
    left.hexbin(actual, predicted, gridsize=40, bins="log", cmap="viridis", extent=(low, high, low, high))
    left.plot([low, high], [low, high], color="red", linewidth=1)
    left.set_xlabel("actual minutes")
    left.set_ylabel("predicted minutes")
    residuals = predicted - actual
    right.hist(residuals, bins=60, color="steelblue")
    right.set_xlabel("predicted - actual (minutes)")
    right.set_ylabel("trips")
    fig.suptitle(title, fontsize=10)
    fig.tight_layout()
    buffer = io.BytesIO()
    fig.savefig(buffer, format="png")
    plt.close(fig)
    return buffer.getvalue()


TAG_ASSET = "ml_assets.asset"
TAG_PARTITION = "ml_assets.partition"
TAG_DATASET = "ml_assets.dataset"


def ensure_experiment(client, name: str, artifact_location: str | None) -> str:
    """The experiment's id, creating it with our artifact root (not MLflow's ./mlruns) if new."""
    experiment = client.get_experiment_by_name(name)
    if experiment is not None:
        return experiment.experiment_id
    try:
        return client.create_experiment(name, artifact_location=artifact_location)
    except Exception:  # created concurrently by another step or run
        experiment = client.get_experiment_by_name(name)
        if experiment is None:
            raise
        return experiment.experiment_id
