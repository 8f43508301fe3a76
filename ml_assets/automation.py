"""Declarative automation: downstream assets follow when their inputs' data really changed."""

import dagster as dg


def on_upstream_data_change() -> dg.AutomationCondition:
    """Like `AutomationCondition.eager()`, with two differences that matter for monthly ML data.

    - Any month, not only the latest: a corrected old month must flow through too.
    - A dependency counts as updated only when its data version changed, so a month that is
      re-ingested with identical content (raw_data hashes its rows) does not retrain models.
    It also waits for every blocking check of the dependencies to pass.
    """
    deps_changed = dg.AutomationCondition.any_deps_match(
        (dg.AutomationCondition.data_version_changed() & ~dg.AutomationCondition.executed_with_root_target())
        | dg.AutomationCondition.will_be_requested()
    ).with_label("any_deps_data_changed")
    return (
        (dg.AutomationCondition.newly_missing() | deps_changed).since_last_handled()
        & ~dg.AutomationCondition.any_deps_missing()
        & ~dg.AutomationCondition.any_deps_in_progress()
        & ~dg.AutomationCondition.in_progress()
        & dg.AutomationCondition.all_deps_blocking_checks_passed()
    ).with_label("on_upstream_data_change")


def with_its_asset() -> dg.AutomationCondition:
    """For the checks of a subsettable asset: requested whenever automation requests the asset, so
    they run in the same run (automation would otherwise launch the asset without them)."""
    return dg.AutomationCondition.any_deps_match(dg.AutomationCondition.will_be_requested()).with_label("with_its_asset")
