"""Monitoring on real data: predictions scored by the champion, drift checks, the drift alarm,
drift-triggered retraining through the champion gate, the backtest and model cards."""

import http.server
import json
import threading

import dagster as dg
import pandas as pd
import pytest
from upath import UPath

from ml_assets_tests.pipelines import (
    check_results,
    failure_messages,
    load_pipeline,
    materialization_metadata,
    materialized,
    requested,
    run_requested,
)

pytestmark = pytest.mark.slow
FLIGHT_MONTHS = ["2013-01", "2013-02", "2013-03", "2013-04"]
TRAINING = ["raw_data", "features", "model", "evaluation_report", "champion_model"]


def _stored(pipeline, asset: str, month: str | None = None):
    if asset in ("features", "predictions"):
        return pd.read_parquet(UPath(pipeline.warehouse(asset)) / f"{month}.parquet")
    return json.loads(pipeline.report(month, asset).read_text())


def _alarms(instance, pipeline, month: str) -> list[dict]:
    records = instance.fetch_materializations(
        dg.AssetRecordsFilter(asset_key=pipeline.key("drift_alarm"), asset_partitions=[month]), limit=20
    ).records
    return [{k: v.value for k, v in r.asset_materialization.metadata.items()} for r in records]


@pytest.fixture(scope="module")
def ranged(tmp_path_factory):
    """nyc_flights over 2013-01..04 in one run, as `dev.py run` does it; read-only for the tests below. Its windows
    are 1 or 2 months (the YAML's 1, 3 or 6 need more months than four to compete), chosen by the backtest."""
    flights = load_pipeline(
        "nyc_flights", tmp_path_factory.mktemp("ranged") / "data", monitoring={"backtest_windows": [1, 2]}
    )
    with dg.DagsterInstance.ephemeral() as instance:
        result = flights.materialize(instance, months=(FLIGHT_MONTHS[0], FLIGHT_MONTHS[-1]))
        assert result.success, failure_messages(result)
        yield flights, instance, result


def test_predictions_are_the_champions_on_every_month(ranged):
    flights, instance, flights_range = ranged
    champion = flights.registry.champion()
    model = flights.registry.load_version(champion.version)
    record = instance.fetch_materializations(
        dg.AssetRecordsFilter(asset_key=flights.key("predictions"), asset_partitions=["2013-04"]), limit=1
    ).records[0]
    by_month = record.event_log_entry.asset_materialization.metadata["by_month"].value
    # the champion's whole window, as its MLflow run records it
    params = flights.registry.client().get_run(champion.run_id).data.params
    window = (
        params["training_months"].split(", ")
        if "training_months" in params
        else [flights.registry.client().get_run(champion.run_id).data.tags["ml_assets.partition"]]
    )
    assert by_month["2013-04"]["champion_training_months"] == (
        window[0] if len(window) == 1 else f"{window[0]}..{window[-1]}"
    )
    for month in FLIGHT_MONTHS:
        scored, features = _stored(flights, "predictions", month), _stored(flights, "features", month)
        assert len(scored) == len(features) > 20_000
        assert scored["prediction"].tolist() == pytest.approx(
            model.predict(features.drop(columns=["duration_min"])).tolist()
        )
        assert scored["actual"].tolist() == features["duration_min"].tolist()
        assert by_month[month]["champion_version"] == str(champion.version)
        # a month the champion learned from shows its figures only as in_sample_; every other month as the skill
        assert by_month[month]["out_of_sample"] is (month not in window)
        shown = "rmse" if month not in window else "in_sample_rmse"
        hidden = "in_sample_rmse" if month not in window else "rmse"
        # numeric: the UI plots it across months
        assert 3 < by_month[month][shown] < 10 and hidden not in by_month[month]
        assert not any(key.startswith(("mae", "r2")) for key in by_month[month]) or month not in window
    # real consecutive months of 2013 do not drift beyond the YAML's thresholds
    checks = check_results(flights_range)
    assert checks["feature_drift"] and checks["prediction_drift"] and checks["target_drift"]
    assert all(_alarms(instance, flights, m) == [] for m in FLIGHT_MONTHS)


def test_drift_check_metadata_names_the_reference_and_every_column(ranged):
    flights, instance, flights_range = ranged
    evaluations = [
        e.asset_check_evaluation_data
        for e in flights_range.all_events
        if e.event_type == dg.DagsterEventType.ASSET_CHECK_EVALUATION
    ]
    feature_drift = next(e for e in evaluations if e.check_name == "feature_drift")
    metadata = {k: v.value for k, v in feature_drift.metadata.items()}
    champion = flights.registry.champion()
    assert metadata["reference"].startswith(f"version {champion.version}'s training data")
    assert (
        metadata["drifted"] == "none" and 0 < metadata["largest_drift"] < 0.2 and metadata["threshold"] == 0.2
    )
    for column in (
        "origin_tvd",
        "route_tvd",
        "carrier_tvd",
        "distance_ks",
        "destination_bearing_ks",
        "pickup_hour_ks",
    ):
        assert 0 <= metadata[column] < 0.2
    # as-of inputs follow the target: the target drift check judges them, the feature drift check leaves them out
    assert not [c for c in metadata if c.startswith(("route_air", "sector_", "all_"))]
    assert "data:image/png;base64," in metadata["plot"]
    assert feature_drift.severity == dg.AssetCheckSeverity.WARN  # drift is not bad data: nothing is blocked


def test_backtest_agrees_with_the_pipelines_own_reports(ranged):
    flights, instance, flights_range = ranged
    report = _stored(flights, "backtest_report")
    rows = pd.DataFrame(report["rows"])
    # training_window: backtest. Until 2013-04 no month before can judge a 2-month window, so the models of 01..03
    # learned from their own month: the backtest's "last month" scores are their evaluation reports' RMSE
    for month in FLIGHT_MONTHS[1:]:
        evaluation = _stored(flights, "evaluation_report", month)
        at = rows[rows["month"] == month].set_index("policy")["score"]
        assert at["retrain monthly on the last month"] == pytest.approx(evaluation["rmse"], rel=1e-9)
        assert at["course baseline"] == pytest.approx(evaluation["baselines"]["course_baseline"], rel=1e-9)
    # the model of 2013-04 chose between 1 and 2 months on 2013-03 alone (never on 04): the backtest's own figures
    model = {
        k: v.value
        for k, v in instance.fetch_materializations(
            dg.AssetRecordsFilter(asset_key=flights.key("model"), asset_partitions=["2013-04"]), limit=1
        )
        .records[0]
        .asset_materialization.metadata.items()
    }
    march = rows[rows["month"] == "2013-03"].set_index("policy")["score"]
    one, two = march["retrain monthly on the last month"], march["retrain monthly on the last 2 months"]
    assert model["training_window_months"] == (1 if one <= two else 2)
    assert model["training_months"] == ("2013-04" if one <= two else "2013-03, 2013-04")
    assert (
        "on 2013-03:" in model["training_window_reason"]
        and f"{min(one, two):.3f}" in model["training_window_reason"]
    )
    assert "2013-04" not in model["training_window_reason"]
    for month in FLIGHT_MONTHS[:3]:
        assert (
            _stored(flights, "evaluation_report", FLIGHT_MONTHS[FLIGHT_MONTHS.index(month) + 1])[
                "model_training_months"
            ]
            == month
        )
    # the champion as it stood at t: the version the previous month's gate left
    for month, previous in zip(FLIGHT_MONTHS[2:], FLIGHT_MONTHS[1:], strict=False):
        kept = rows[(rows["month"] == month) & (rows["policy"] == "keep the champion")].iloc[0]
        version = _stored(flights, "champion_model", previous)["champion_version"]
        assert kept["trained_on"] == f"version {version}"
        # the gate of `month` faced the same champion on the same rows (the backtest reads the score it computed):
        # both are that version's RMSE on the month, recomputed here from the registry and the stored features
        gate = _stored(flights, "champion_model", month)
        assert gate["previous_champion_version"] == version
        recomputed = flights.plan.task.primary_metric_of(
            flights.registry.load_version(version), _stored(flights, "features", month)
        )
        assert kept["score"] == pytest.approx(recomputed, rel=1e-12)
        assert gate["previous_champion_score"] == pytest.approx(recomputed, rel=1e-12)
    two_months = rows[rows["policy"] == "retrain monthly on the last 2 months"]
    assert two_months["month"].tolist() == ["2013-03", "2013-04"]
    assert two_months["trained_on"].tolist() == ["2013-01..2013-02", "2013-02..2013-03"]
    assert report["winner"] == min(report["means"], key=report["means"].get)
    assert report["winner"] in report["verdict"] and report["common_months"] == ["2013-03", "2013-04"]
    runs = flights.registry.client().search_runs(
        [flights.registry.experiment_id()], filter_string="tags.`ml_assets.asset` = 'backtest_report'"
    )
    assert len(runs) == 1 and runs[0].info.status == "FINISHED"
    assert runs[0].data.tags["ml_assets.backtest_winner"] == report["winner"]
    assert {f"mean_{p}_rmse" for p in ("keep_the_champion", "course_baseline")} <= set(runs[0].data.metrics)


def test_every_registered_version_has_a_model_card(ranged):
    flights, instance, flights_range = ranged
    client, name = flights.registry.client(), flights.registry.name
    versions = sorted(client.search_model_versions(f"name = '{name}'"), key=lambda v: int(v.version))
    assert len(versions) == 4
    for version, month in zip(versions, FLIGHT_MONTHS, strict=True):
        card = version.description
        assert card.startswith(f"# {name} version {version.version}") and f"Trained on**: {month}" in card
        assert "## Limitations" in card
        # evaluated on the next month (the last month's model waits for May)
        assert ("## Evaluation" in card) == (month != FLIGHT_MONTHS[-1])
    assert "val_course_baseline_rmse" in versions[0].description


def test_no_champion_stores_the_month_empty_and_the_run_succeeds(flights, instance):
    """Every month a run targets is materialized: a backfill whose first month has no champion yet completes (a
    targeted month left unmaterialized is one Dagster's backfill daemon marks failed)."""
    result = flights.materialize(instance, "2013-01")
    assert result.success, failure_messages(result)
    assert "predictions" in materialized(result)
    metadata = materialization_metadata(result, "nyc_flights", "predictions")
    assert (
        metadata["status"].value == "no champion yet: nyc_flights_air_time has none"
        and metadata["rows"].value == 0
    )
    assert len(_stored(flights, "predictions", "2013-01")) == 0
    assert [a["reason"] for a in _alarms(instance, flights, "2013-01")] == ["no champion to score this month"]
    assert all(check_results(result).values())  # the drift checks judged nothing, and said why
    # the gate names a champion: the month is scored
    assert flights.materialize(instance, "2013-02").success
    assert flights.materialize(instance, "2013-01", assets=["predictions"]).success
    assert len(_stored(flights, "predictions", "2013-01")) > 20_000


def _alias_reports(instance, pipeline) -> list[str]:
    """The champion versions `champion_model` reported on the external champion_alias, oldest first."""
    records = instance.fetch_materializations(
        dg.AssetRecordsFilter(asset_key=pipeline.key("champion_alias")), limit=50
    ).records
    return [r.asset_materialization.metadata["champion_version"].value for r in reversed(records)]


def test_a_month_awaiting_its_data_is_scored_empty_or_not_at_all(flights, instance):
    """A backfill can add a month after its range (Dagster maps the range's last model to the
    next month's evaluation, gate and predictions): that month has no features to score yet."""
    assert flights.materialize(instance, months=("2013-01", "2013-02")).success
    in_range = flights.materialize(instance, months=("2013-02", "2013-03"), assets=["predictions"])
    assert in_range.success, failure_messages(in_range)
    assert len(_stored(flights, "predictions", "2013-02")) > 20_000
    empty = _stored(flights, "predictions", "2013-03")
    assert len(empty) == 0 and list(empty.columns) == list(_stored(flights, "predictions", "2013-02").columns)
    by_month = (
        in_range.asset_materializations_for_node("nyc_flights__predictions")[0].metadata["by_month"].value
    )
    assert by_month["2013-03"] == {"status": "awaiting data", "rows": 0}
    alone = flights.materialize(instance, "2013-05", assets=["predictions"])
    assert (
        alone.success
        and materialized(alone) == ["predictions"]
        and len(_stored(flights, "predictions", "2013-05")) == 0
    )
    assert materialization_metadata(alone, "nyc_flights", "predictions")["status"].value == "awaiting data"
    assert all(check_results(alone).values())  # judged nothing, and said why
    assert _alarms(instance, flights, "2013-03") == [] and _alarms(instance, flights, "2013-05") == []


def test_predictions_follow_the_champion_alias(flights, instance):
    assert flights.materialize(instance, months=("2013-01", "2013-03")).success
    # reported once per run
    assert _alias_reports(instance, flights) == [str(flights.registry.champion().version)]
    defs = flights.defs()
    tick = dg.evaluate_automation_conditions(defs=defs, instance=instance)
    assert flights.materialize(instance, "2013-04", assets=TRAINING).success
    assert _stored(flights, "champion_model", "2013-04")["promoted"]  # the alias moved
    tick = dg.evaluate_automation_conditions(defs=defs, instance=instance, cursor=tick.cursor)
    # every month re-scored
    assert {p for k, p in requested(tick) if k == "nyc_flights/predictions"} == set(FLIGHT_MONTHS)
    run_requested(flights, instance, tick)
    version = str(flights.registry.champion().version)
    assert _alias_reports(instance, flights)[-1] == version
    assert all(_stored(flights, "predictions", m).shape[0] > 0 for m in FLIGHT_MONTHS)
    # a gate that keeps the champion changes nothing downstream
    assert flights.materialize(instance, "2013-04", assets=["champion_model"]).success
    assert not _stored(flights, "champion_model", "2013-04")["promoted"]
    tick = dg.evaluate_automation_conditions(defs=defs, instance=instance, cursor=tick.cursor)
    assert not {k for k, _ in requested(tick)} & {"nyc_flights/predictions"}
    assert str(flights.registry.champion().version) == version
    assert len(_alias_reports(instance, flights)) == 2  # nothing moved, nothing reported


def test_a_rerun_of_earlier_months_never_moves_the_alias_back_nor_changes_the_backtest(flights, instance):
    """Re-running 2013-01..02 after 2013-01..03: the gate of 2013-02 faces the model of 2013-02 (the champion its
    2013-03 gate left) with a new version of the model of 2013-01, and keeps the newer one; the backtest's "keep the
    champion" replays the gates from none, so it shows the figures of the first history, never a champion that
    learned from the month it is scored on or a later one."""
    assets = [*TRAINING, "backtest_report"]
    assert flights.materialize(instance, months=("2013-01", "2013-03"), assets=assets).success
    champion = str(flights.registry.champion().version)
    assert flights.registry.version_month(champion) == "2013-02"  # promoted at the 2013-03 gate
    first = pd.DataFrame(_stored(flights, "backtest_report")["rows"])

    assert flights.materialize(instance, months=("2013-01", "2013-02"), assets=assets).success
    gate = _stored(flights, "champion_model", "2013-02")
    assert flights.registry.version_month(gate["candidate_version"]) == "2013-01"
    assert not gate["promoted"] and gate["checks_passed"]
    assert f"version {champion} is the model of 2013-02, a later month than 2013-01" in gate["reason"]
    assert str(flights.registry.champion().version) == champion
    # the evaluation of 2013-02 shows that champion's score there, and that it learned from those rows
    report = _stored(flights, "evaluation_report", "2013-02")
    assert (
        f"current champion (version {champion}, which learned from 2013-02: in sample)" in report["markdown"]
    )

    again = pd.DataFrame(_stored(flights, "backtest_report")["rows"])
    kept = again[again["policy"] == "keep the champion"]
    assert kept["month"].tolist() == [
        "2013-03"
    ]  # no champion stood before the 2013-02 gate of a fresh history
    pd.testing.assert_series_equal(
        kept["score"].reset_index(drop=True),
        first[first["policy"] == "keep the champion"]["score"].reset_index(drop=True),
        rtol=1e-12,
    )
    for _, row in kept.iterrows():
        assert flights.registry.version_month(row["trained_on"].removeprefix("version ")) < row["month"]


class _Webhook(http.server.BaseHTTPRequestHandler):
    received: list = []

    def do_POST(self):  # noqa: N802
        self.received.append(json.loads(self.rfile.read(int(self.headers["Content-Length"]))))
        self.send_response(200)
        self.end_headers()

    def log_message(self, *args):
        pass


@pytest.fixture
def webhook(monkeypatch):
    server = http.server.ThreadingHTTPServer(("127.0.0.1", 0), _Webhook)
    threading.Thread(target=server.serve_forever, daemon=True).start()
    _Webhook.received = []
    monkeypatch.setenv("ML_ASSETS_ALERT_WEBHOOK_URL", f"http://127.0.0.1:{server.server_port}/hook")
    yield _Webhook.received
    server.shutdown()


def test_drift_retrains_through_automation_and_the_champion_gate(data_dir, trip_server, instance, webhook):
    """Real green-taxi months: a champion trained in January 2021 meets January 2022, when the
    pickups had moved (origin shares 0.3 apart, durations longer). Under `retrain: on_drift` the
    drift alarm is the only thing that trains a model, and the new model must pass the gate."""
    taxi = load_pipeline(
        "nyc_taxi_green",
        data_dir,
        source={"url_template": trip_server.url_template},
        partitioning={"monthly": {"first_month": "2021-01", "last_month": "2022-02"}},
        automation={"ingest_retries": 0},
        monitoring={"retrain": "on_drift"},
    )
    result = taxi.materialize(instance, months=("2021-01", "2021-02"))
    assert result.success, failure_messages(result)
    first_champion = str(taxi.registry.champion().version)
    assert check_results(result)["feature_drift"]  # February 2021 looks like January 2021
    defs = taxi.defs()
    tick = dg.evaluate_automation_conditions(defs=defs, instance=instance)

    def settle(limit: int = 8) -> list[tuple[str, str | None]]:
        """Evaluate and run automation until it requests nothing more; what it requested, in order."""
        nonlocal tick
        history = []
        for _ in range(limit):
            tick = dg.evaluate_automation_conditions(defs=defs, instance=instance, cursor=tick.cursor)
            asked = sorted(requested(tick), key=lambda kp: (kp[1] or "", kp[0]))
            if not asked:
                return history
            history += asked
            run_requested(taxi, instance, tick)
        raise AssertionError(f"automation did not settle: {history}")

    # January 2022 arrives (the source sensor's run); automation scores it and finds the drift
    assert taxi.materialize(instance, "2022-01", assets=["raw_data"]).success
    history = settle()
    assert ("nyc_taxi_green/predictions", "2022-01") in history
    assert ("nyc_taxi_green/model", "2022-01") in history  # the alarm, and nothing else, trained it
    assert history.index(("nyc_taxi_green/predictions", "2022-01")) < history.index(
        ("nyc_taxi_green/model", "2022-01")
    )
    alarm = _alarms(instance, taxi, "2022-01")
    assert alarm and alarm[0]["reason"].startswith(f"drifted from version {first_champion}'s training data")
    assert "origin tvd" in alarm[0]["drifted"]
    assert [hook["month"] for hook in webhook] == ["2022-01"] and "origin" in webhook[0]["drifted"]
    assert "drifted from version" in webhook[0]["text"] and "/runs/" in webhook[0]["text"]

    # February 2022: the model trained on the drifted month faces the old champion at the gate
    assert taxi.materialize(instance, "2022-02", assets=["raw_data"]).success
    history = settle()
    assert ("nyc_taxi_green/champion_model", "2022-02") in history
    gate = _stored(taxi, "champion_model", "2022-02")
    retrained = taxi.registry.version_for_run(taxi.registry.training_run_for("2022-01").info.run_id)
    assert (
        gate["candidate_version"] == str(retrained.version)
        and gate["previous_champion_version"] == first_champion
    )
    assert gate["promoted"] and gate["candidate_score"] < gate["previous_champion_score"]
    assert str(taxi.registry.champion().version) == str(retrained.version)
    # the new champion re-scored the months, and February 2022 no longer drifts from its training data
    latest = (
        instance.fetch_materializations(
            dg.AssetRecordsFilter(asset_key=taxi.key("predictions"), asset_partitions=["2022-02"]), limit=1
        )
        .records[0]
        .event_log_entry.asset_materialization.metadata
    )
    assert latest["champion_version"].value == str(retrained.version)
    assert latest["champion_training_months"].value == "2022-01" and latest["out_of_sample"].value is True
    assert latest["feature_drift_largest"].value < 0.2


def test_a_range_run_shows_each_months_own_report_and_figures(ranged):
    """Each month of a range gets its own metadata: its report and plot render in the UI, its figures plot across
    partitions, as if it had been run alone."""
    flights, instance, flights_range = ranged
    for month in FLIGHT_MONTHS[1:]:
        record = instance.fetch_materializations(
            dg.AssetRecordsFilter(asset_key=flights.key("evaluation_report"), asset_partitions=[month]),
            limit=1,
        ).records[0]
        metadata = record.event_log_entry.asset_materialization.metadata
        evaluation = _stored(flights, "evaluation_report", month)
        assert (
            f"evaluation for {month}" in metadata["report"].value
            and "data:image/png;base64," in metadata["report"].value
        )
        assert metadata["rmse"].value == round(evaluation["rmse"], 4)
        assert metadata["train_month"].value == evaluation["train_month"]


def test_a_failed_blocking_check_logs_its_figures(data_dir, instance):
    iris = load_pipeline("iris", data_dir, quality={"min_accuracy": 0.999}, evaluation={"cv_repeats": 1})
    result = iris.materialize(instance)
    assert not result.success and check_results(result)["accuracy_within_threshold"] is False
    messages = [e.user_message for e in instance.all_logs(result.run_id)]
    assert any(
        "iris/evaluation_report: check accuracy_within_threshold failed: accuracy 0.9" in m
        and "< min_accuracy 0.999" in m
        for m in messages
    ), messages


def test_the_cli_summary_shows_a_failed_check_as_a_row_with_its_month_and_figures(data_dir, instance, capsys):
    """`dev.py run` prints its table even when a run fails: each failed blocking check a row (pipeline, month, check,
    figures); a monthly check's console line names its month."""
    from ml_assets.cli import failed_check_rows, print_summary

    flights = load_pipeline("nyc_flights", data_dir, quality={"max_rmse": 1.0})
    assert flights.materialize(instance, "2013-01").success
    result = flights.materialize(instance, "2013-02")
    assert not result.success
    rows = failed_check_rows(result, flights.plan, ["2013-02"])
    assert ["nyc_flights", "2013-02", "check rmse_within_threshold failed"] == rows[0][
        :3
    ] and "> max_rmse 1" in rows[0][3]
    messages = [e.user_message for e in instance.all_logs(result.run_id)]
    assert any(
        "nyc_flights/evaluation_report[2013-02]: check rmse_within_threshold failed: rmse" in m
        for m in messages
    ), messages
    print_summary(flights.defs(), [flights.plan], {"nyc_flights": [["2013-02"]]}, 1.0, rows)
    out = capsys.readouterr().out
    assert "1 failure(s): pipeline, month, what failed, figures" in out
    assert "nyc_flights  2013-02  check rmse_within_threshold failed" in out
