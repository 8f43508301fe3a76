"""Materialize the real asset graph for one month, the way a run would."""

import dagster as dg

from ml_assets.assets import build_assets
from ml_assets.definitions import build_resources
from ml_assets.partitions import monthly_partitions
from ml_assets.settings import Settings


def materialize_month(settings: Settings, month: str, instance: dg.DagsterInstance, selection="*", **kwargs):
    assets = build_assets(monthly_partitions(settings), settings)
    return dg.materialize(
        assets,
        selection=selection,
        partition_key=month,
        resources=build_resources(settings),
        instance=instance,
        raise_on_error=False,
        **kwargs,
    )


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
