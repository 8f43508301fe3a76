import re
import subprocess
import sys

import numpy as np
import pytest

from ml_assets.plots import classification_plot_png, prediction_plot_png
from ml_assets.tracking import TrackingUnavailableError, check_tracking_uri, decide_champion


def test_first_checked_model_becomes_champion():
    decision = decide_champion("1", 10.9, True, None, None, 0.0)
    assert decision.promote and "first" in decision.reason


def test_better_model_moves_the_alias_and_worse_keeps_it():
    better = decide_champion("2", 11.4, True, "1", 12.7, 0.01)
    assert better.promote and "beats champion version 1" in better.reason
    worse = decide_champion("3", 12.0, True, "2", 11.4, 0.0)
    assert not worse.promote and "the champion stays" in worse.reason


def test_tolerance_keeps_a_marginally_better_model_out():
    decision = decide_champion("2", 11.3, True, "1", 11.4, 0.05)
    assert not decision.promote and "needed <= 10.830" in decision.reason


def test_failed_blocking_check_keeps_the_champion_whatever_the_rmse():
    decision = decide_champion("2", 1.0, False, "1", 11.4, 0.0)
    assert not decision.promote and "failed a blocking check" in decision.reason


def test_same_version_is_not_promoted_again():
    assert not decide_champion("2", 11.0, True, "2", 11.0, 0.0).promote


@pytest.mark.parametrize(
    "uri, message", [("bogus://x", "scheme 'bogus'"), ("mlruns-folder", "scheme '(none)'")]
)
def test_malformed_tracking_uri_is_named(uri, message):
    with pytest.raises(TrackingUnavailableError, match=re.escape(message)):
        check_tracking_uri(uri)


def test_unreachable_tracking_server_is_named():
    with pytest.raises(TrackingUnavailableError, match=r"http://127.0.0.1:9 does not answer"):
        check_tracking_uri("http://127.0.0.1:9", timeout_s=2)


def test_credentials_in_an_unreachable_tracking_uri_are_not_shown():
    with pytest.raises(TrackingUnavailableError) as caught:
        check_tracking_uri("http://admin:hunter2@127.0.0.1:9", timeout_s=2)
    assert "hunter2" not in str(caught.value) and "admin:***@127.0.0.1:9" in str(caught.value)
    assert caught.value.__cause__ is None  # the underlying error (which names the URL) is not chained


def test_plot_is_a_png():
    rng = np.random.default_rng(0)
    actual = rng.uniform(1, 60, 500)
    png = prediction_plot_png(actual, actual + rng.normal(0, 3, 500), "test")
    assert png[:8] == b"\x89PNG\r\n\x1a\n" and len(png) > 5_000


def test_classification_plot_is_a_png():
    png = classification_plot_png(
        [[9, 1], [2, 8]], ["no", "yes"], {"model": [0.8, 0.9], "majority class": [0.5, 0.5]}, "t"
    )
    assert png[:8] == b"\x89PNG\r\n\x1a\n" and len(png) > 5_000


_OPEN_STORE_AT = """
import sys
from mlflow import MlflowClient
from ml_assets.tracking import check_tracking_uri
uri = sys.argv[1]
print("ready", flush=True)
sys.stdin.readline()  # both interpreters have imported: the test says go to both at once
check_tracking_uri(uri)
MlflowClient(uri, registry_uri=uri).create_experiment(f"opened by {sys.argv[2]}")
"""


@pytest.mark.slow
def test_two_runs_opening_a_new_local_store_at_once_both_succeed(tmp_path):
    # without the lock, MLflow's table creation races: "table runs already exists" (4 of 4 tries here)
    for attempt in range(3):
        uri = f"sqlite:///{tmp_path}/store{attempt}/mlflow.db"
        workers = [
            subprocess.Popen(
                [sys.executable, "-c", _OPEN_STORE_AT, uri, str(n)],
                stdin=subprocess.PIPE,
                stdout=subprocess.PIPE,
                stderr=subprocess.PIPE,
                text=True,
            )
            for n in range(2)
        ]
        ready = [w.stdout.readline() for w in workers]  # '' if one ended before it was ready
        for worker in workers:
            if worker.poll() is None:
                worker.stdin.write("go\n")
                worker.stdin.flush()
        errors = [w.communicate(timeout=120)[1] for w in workers]
        assert ready == ["ready\n", "ready\n"], "\n".join(e[-1500:] for e in errors)
        assert [w.returncode for w in workers] == [0, 0], "\n".join(e[-1500:] for e in errors)


def test_credentials_are_split_from_a_tracking_server_uri():
    from ml_assets.tracking import without_credentials

    assert without_credentials("https://ml:p%40ss@mlflow.example:5000/base") == (
        "https://mlflow.example:5000/base",
        "ml",
        "p@ss",
    )
    assert without_credentials("http://127.0.0.1:5000") == ("http://127.0.0.1:5000", None, None)
    # a database URL keeps its password: SQLAlchemy masks it, and MLflow prints no URL for it
    assert without_credentials("postgresql://u:pw@db/mlflow") == ("postgresql://u:pw@db/mlflow", None, None)


def test_a_new_local_store_is_the_migrated_empty_one_with_its_own_default_experiment(tmp_path, monkeypatch):
    import sqlite3

    from mlflow import MlflowClient

    from ml_assets.tracking import empty_store_template, prepare_sqlite_store

    def tables(path) -> dict[str, int]:
        with sqlite3.connect(path) as connection:
            names = [r[0] for r in connection.execute("SELECT name FROM sqlite_master WHERE type = 'table'")]
            return {n: connection.execute(f'SELECT COUNT(*) FROM "{n}"').fetchone()[0] for n in names}

    monkeypatch.setenv("ML_ASSETS_CACHE_DIR", str(tmp_path / "cache"))
    (tmp_path / "made_here").mkdir()
    monkeypatch.chdir(tmp_path / "made_here")
    template = empty_store_template()
    assert template is not None and tables(template)["experiments"] == 0
    (tmp_path / "opened_here").mkdir()
    monkeypatch.chdir(tmp_path / "opened_here")
    prepare_sqlite_store(f"sqlite:///{tmp_path}/copied/mlflow.db")
    MlflowClient(f"sqlite:///{tmp_path}/migrated/mlflow.db").search_experiments()  # created by MLflow alone
    assert tables(tmp_path / "copied" / "mlflow.db") == tables(tmp_path / "migrated" / "mlflow.db")
    rows = {}
    for store in ("copied", "migrated"):
        with sqlite3.connect(tmp_path / store / "mlflow.db") as connection:
            rows[store] = [
                *connection.execute("SELECT name, artifact_location FROM experiments"),
                *connection.execute("SELECT version_num FROM alembic_version"),
            ]
    assert rows["copied"] == rows["migrated"]
    assert rows["copied"][0][1].startswith(str(tmp_path / "opened_here"))  # not where the template was made
    assert empty_store_template() == template  # made once


def test_a_candidate_never_replaces_the_model_of_a_later_month():
    """A re-run of an earlier month faces the model of a later one: kept whatever its score."""
    kept = decide_champion(
        "13", 1.0, True, "11", 9.0, 0.0, candidate_month="2013-01", champion_month="2013-11"
    )
    assert not kept.promote
    assert "version 11 is the model of 2013-11, a later month than 2013-01" in kept.reason
    # the model of the same month or of a later month than the champion's is judged by its score
    for month in ("2013-11", "2013-12"):
        assert decide_champion(
            "23", 8.0, True, "11", 9.0, 0.0, candidate_month=month, champion_month="2013-11"
        ).promote
        assert not decide_champion(
            "23", 9.5, True, "11", 9.0, 0.0, candidate_month=month, champion_month="2013-11"
        ).promote
    # a table's models have no month
    assert decide_champion("2", 8.0, True, "1", 9.0, 0.0).promote
