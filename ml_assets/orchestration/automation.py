"""Declarative automation: downstream assets follow when their inputs' data really changed."""

import os

import dagster as dg


def any_deps_data_changed() -> dg.AutomationCondition:
    """A dependency's data version changed outside this asset's own runs, or it is being requested now."""
    return dg.AutomationCondition.any_deps_match(
        (dg.AutomationCondition.data_version_changed() & ~dg.AutomationCondition.executed_with_root_target())
        | dg.AutomationCondition.will_be_requested()
    ).with_label("any_deps_data_changed")


def on_upstream_data_change() -> dg.AutomationCondition:
    """Like `AutomationCondition.eager()`, with two differences that matter for monthly ML data.

    - Any month, not only the latest: a corrected old month must flow through too.
    - A dependency counts as updated only when its data version changed, so a month that is
      re-ingested with identical content (raw_data hashes its rows) does not retrain models.
    It also waits for every blocking check of the dependencies to pass.
    """
    return (
        (dg.AutomationCondition.newly_missing() | any_deps_data_changed()).since_last_handled()
        & ~dg.AutomationCondition.any_deps_missing()
        & ~dg.AutomationCondition.any_deps_in_progress()
        & ~dg.AutomationCondition.in_progress()
        & dg.AutomationCondition.all_deps_blocking_checks_passed()
    ).with_label("on_upstream_data_change")


def with_its_asset() -> dg.AutomationCondition:
    """For the checks of a subsettable asset: requested whenever automation requests the asset, so
    they run in the same run (automation would otherwise launch the asset without them)."""
    return dg.AutomationCondition.any_deps_match(dg.AutomationCondition.will_be_requested()).with_label(
        "with_its_asset"
    )


def follows_champion(champion: dg.AssetKey, alias: dg.AssetKey | None = None) -> dg.AutomationCondition:
    """For `predictions`: re-score when the month's features changed or the champion moved.

    `champion_model` reports the champion's MLflow version as its data version, so a gate that
    keeps the champion changes nothing. A monthly pipeline's gate that moves the alias reports
    the external `alias` asset, every month's dependency, so every month is re-scored. A month
    that was never gated (an open-ended source's future, a month `on_drift` did not retrain on)
    does not hold its scoring back.
    """
    not_required = dg.AssetSelection.assets(champion, *([alias] if alias else []))
    changed = dg.AutomationCondition.newly_missing() | any_deps_data_changed()
    if alias is not None:
        changed |= (
            dg.AutomationCondition.any_deps_match(dg.AutomationCondition.newly_updated())
            .allow(dg.AssetSelection.assets(alias))
            .with_label("champion_alias_moved")
        )
    return (
        changed.since_last_handled()
        & ~dg.AutomationCondition.any_deps_missing().ignore(not_required)
        & ~dg.AutomationCondition.any_deps_in_progress()
        & ~dg.AutomationCondition.in_progress()
    ).with_label("follows_champion")


def on_drift_alarm(alarm: dg.AssetKey) -> dg.AutomationCondition:
    """For `model` under `monitoring.retrain: on_drift`: train on a month only when `predictions`
    raised that month's drift alarm (drift beyond the YAML thresholds, or no champion to score it)."""
    alarm_only = dg.AssetSelection.assets(alarm)
    alarmed = dg.AutomationCondition.any_deps_match(dg.AutomationCondition.newly_updated()).allow(alarm_only)
    return (
        alarmed.with_label("drift_alarm_raised").since_last_handled()
        & ~dg.AutomationCondition.any_deps_missing().ignore(alarm_only)
        & ~dg.AutomationCondition.any_deps_in_progress()
        & ~dg.AutomationCondition.in_progress()
        & dg.AutomationCondition.all_deps_blocking_checks_passed()
    ).with_label("on_drift_alarm")


def after_each_gate(champion: dg.AssetKey) -> dg.AutomationCondition:
    """For `backtest_report`, which reads every month: re-run once a month's chain has reached the
    champion gate (the last step), not once per upstream step of it."""
    gated = dg.AutomationCondition.any_deps_match(
        dg.AutomationCondition.newly_updated() | dg.AutomationCondition.will_be_requested()
    ).allow(dg.AssetSelection.assets(champion))
    return (
        gated.with_label("a_month_was_gated").since_last_handled()
        & ~dg.AutomationCondition.any_deps_in_progress()
        & ~dg.AutomationCondition.in_progress()
    ).with_label("after_each_gate")


AUTOMATION_ENV = "ML_ASSETS_AUTOMATION"


def sensors_start_running() -> bool:
    """Whether the pipelines' sensors and schedules start RUNNING (the default) or STOPPED, from
    ML_ASSETS_AUTOMATION=running|stopped: stopped, a fresh instance launches nothing until they are turned on
    in the UI (`dev.py stack --automation stopped`, and the stack's smoke test, whose backfill runs alone)."""
    value = os.environ.get(AUTOMATION_ENV, "running")
    if value not in ("running", "stopped"):
        raise ValueError(f"{AUTOMATION_ENV} must be 'running' or 'stopped', not {value!r}")
    return value == "running"


def default_sensor_status() -> dg.DefaultSensorStatus:
    return dg.DefaultSensorStatus.RUNNING if sensors_start_running() else dg.DefaultSensorStatus.STOPPED


def default_schedule_status() -> dg.DefaultScheduleStatus:
    return dg.DefaultScheduleStatus.RUNNING if sensors_start_running() else dg.DefaultScheduleStatus.STOPPED
