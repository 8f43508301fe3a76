"""MLflow helpers (no Dagster): tracking URI checks, run lookup, champion decisions, plots.

MLflow keeps the runs, the registered model versions and the `champion` alias; it keeps
no history of the alias, so the `champion_model` asset's materializations are that history.
"""

from __future__ import annotations

import urllib.parse
from dataclasses import dataclass
from pathlib import Path

SUPPORTED_SCHEMES = ("sqlite", "postgresql", "mysql", "mssql", "file", "http", "https", "databricks")


class TrackingUnavailableError(RuntimeError):
    """The MLflow tracking URI is malformed or its server does not answer."""


class RegistryNameClashError(RuntimeError):
    """The registered model name is taken by another dataset or by something outside ml_assets."""


def redact_uri(uri: str) -> str:
    """The URI with any password (user:password@host) and query string masked, for messages."""
    parsed = urllib.parse.urlsplit(uri)
    if "@" not in parsed.netloc and not parsed.query:
        return uri
    netloc = parsed.netloc
    if "@" in netloc:
        credentials, host = netloc.rsplit("@", 1)
        user = credentials.split(":", 1)[0]
        netloc = f"{user}:***@{host}" if ":" in credentials else f"***@{host}"
    query = "***" if parsed.query else ""
    return urllib.parse.urlunsplit((parsed.scheme, netloc, parsed.path, query, ""))


def check_tracking_uri(uri: str, timeout_s: float = 5.0) -> None:
    """Fail fast, naming the (redacted) URI, instead of letting MLflow retry for minutes or log nowhere."""
    scheme = urllib.parse.urlparse(uri).scheme.split("+")[0]
    if scheme not in SUPPORTED_SCHEMES:
        raise TrackingUnavailableError(
            f"MLflow tracking URI {redact_uri(uri)!r} is not usable: scheme {scheme or '(none)'!r} is not one of "
            f"{SUPPORTED_SCHEMES} (a local store is written sqlite:///path/mlflow.db)"
        )
    if scheme == "sqlite":
        prepare_sqlite_store(uri)
    if scheme in ("http", "https"):
        import requests

        shown = redact_uri(uri)
        try:
            requests.get(uri.rstrip("/") + "/health", timeout=timeout_s).raise_for_status()
        except requests.RequestException as exc:
            raise TrackingUnavailableError(
                f"MLflow tracking server {shown} does not answer at {shown.rstrip('/')}/health ({type(exc).__name__})"
            ) from None


def prepare_sqlite_store(uri: str) -> None:
    """Create the embedded store's tables under a file lock.

    MLflow creates and migrates a new SQLite store on first use; two runs doing it at once (two
    months of a backfill, say) fail with "table runs already exists" or "duplicate column".
    """
    from filelock import FileLock
    from mlflow import MlflowClient

    database = Path(urllib.parse.urlparse(uri).path)
    database.parent.mkdir(parents=True, exist_ok=True)
    with FileLock(f"{database}.init-lock"):
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
    candidate_score: float,
    checks_passed: bool,
    champion_version: str | None,
    champion_score: float | None,
    min_relative_improvement: float,
    metric: str = "RMSE",
    higher_is_better: bool = False,
) -> ChampionDecision:
    """Promote only a checked model that beats the champion on the same rows by the tolerance.

    Lower-is-better metrics (RMSE) must fall to champion x (1 - tolerance); higher-is-better
    ones (accuracy) must rise to champion x (1 + tolerance); a tie never moves the alias.
    """
    if not checks_passed:
        return ChampionDecision(False, f"version {candidate_version} failed a blocking check; the champion stays")
    if champion_version is None or champion_score is None:
        return ChampionDecision(
            True, f"no champion yet: version {candidate_version} ({metric} {candidate_score:.3f}) becomes the first"
        )
    if str(champion_version) == str(candidate_version):
        return ChampionDecision(False, f"version {candidate_version} already is the champion")
    if higher_is_better:
        needed = champion_score * (1.0 + min_relative_improvement)
        better = candidate_score > champion_score and candidate_score >= needed
        gain = 100 * (candidate_score / champion_score - 1) if champion_score else float("inf")
        bound = f">= {needed:.3f}"
    else:
        needed = champion_score * (1.0 - min_relative_improvement)
        better = candidate_score < champion_score and candidate_score <= needed
        gain = 100 * (1 - candidate_score / champion_score) if champion_score else 0.0
        bound = f"<= {needed:.3f}"
    if better:
        return ChampionDecision(
            True,
            f"version {candidate_version} {metric} {candidate_score:.3f} beats champion version {champion_version} "
            f"{metric} {champion_score:.3f} on the same rows by {gain:.2f}% (needed {100 * min_relative_improvement:.2f}%)",
        )
    return ChampionDecision(
        False,
        f"version {candidate_version} {metric} {candidate_score:.3f} does not beat champion version {champion_version} "
        f"{metric} {champion_score:.3f} by {100 * min_relative_improvement:.2f}% (needed {bound}); the champion stays",
    )


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
