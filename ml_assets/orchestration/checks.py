"""Asset checks in Dagster's terms: the blocking specs of each asset and the results its step yields.

The checks run inside the asset (check_specs + MaterializeResult.check_results), so a partitioned asset is
checked on the partition it just produced, not on every partition. What each check asserts and how it is judged
is the task's (tasks/checks.py); here its plain outcome becomes a `dg.AssetCheckResult`.
"""

from __future__ import annotations

from typing import Any

import dagster as dg

from ml_assets.tasks.checks import DESCRIPTIONS, CheckOutcome
from ml_assets.ui_values import Markdown


def check_specs(
    asset: dg.AssetKey,
    names: list[str],
    automation_condition: dg.AutomationCondition | None = None,
    blocking: bool = True,
    descriptions: dict[str, str] | None = None,
) -> list[dg.AssetCheckSpec]:
    described = {**DESCRIPTIONS, **(descriptions or {})}
    return [
        dg.AssetCheckSpec(
            name,
            asset=asset,
            blocking=blocking,
            description=described.get(name),
            automation_condition=automation_condition,
        )
        for name in names
    ]


def ui_metadata(metadata: dict[str, Any]) -> dict[str, Any]:
    """Plain metadata as Dagster shows it: Markdown rendered as Markdown, everything else as it is."""
    return {
        key: dg.MetadataValue.md(str(value)) if isinstance(value, Markdown) else value
        for key, value in metadata.items()
    }


def check_result(outcome: CheckOutcome) -> dg.AssetCheckResult:
    severity = dg.AssetCheckSeverity.WARN if outcome.severity == "warn" else dg.AssetCheckSeverity.ERROR
    return dg.AssetCheckResult(
        check_name=outcome.check_name,
        passed=outcome.passed,
        severity=severity,
        metadata=ui_metadata(outcome.metadata),
    )
