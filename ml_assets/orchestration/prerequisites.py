"""What a month range needs before it: the evaluation of its first month A scores the model of A-1, which learns from
the features of the months before A that its window (or window choice) reads. On storage that lacks them, the CLI
builds them first; a range launched from Dagster's CLI or UI fails at once, naming the one range to materialize,
rather than failing month after month back to the first one."""

from __future__ import annotations

from dataclasses import dataclass

import dagster as dg

from ml_assets.orchestration.plan import EVALUATION_REPORT, FEATURES, MODEL, RAW_DATA, PipelinePlan

REFUSED = "refused"  # the metadata key of the observation raw_data records on a month whose data it refused


def refusal(instance: dg.DagsterInstance, plan: PipelinePlan, month: str) -> str | None:
    """Why raw_data last refused `month`, if its latest record of that month is a refusal."""
    observed = instance.fetch_observations(
        dg.AssetRecordsFilter(asset_key=plan.key(RAW_DATA), asset_partitions=[month]), limit=1
    ).records
    if not observed or REFUSED not in observed[0].asset_observation.metadata:
        return None
    stored = instance.fetch_materializations(
        dg.AssetRecordsFilter(asset_key=plan.key(RAW_DATA), asset_partitions=[month]), limit=1
    ).records
    if stored and stored[0].timestamp > observed[0].timestamp:
        return None  # a later good copy replaced the refusal
    return str(observed[0].asset_observation.metadata[REFUSED].value)


def refused(plan: PipelinePlan, month: str, why: str, location: str | None = None) -> dg.AssetObservation:
    """The record of a refused month, so the next month's evaluation can say why this one has no model."""
    return dg.AssetObservation(
        asset_key=plan.key(RAW_DATA),
        partition=month,
        metadata={REFUSED: why, **({"location": location} if location else {})},
    )


@dataclass(frozen=True)
class Missing:
    """The months to materialize (raw_data, features, model) before `first` can be evaluated."""

    first: str  # the range's first month
    previous: str  # the month whose model the evaluation of `first` scores
    months: list[str]  # the one range to materialize, oldest first, ending at `previous`

    @property
    def span(self) -> str:
        return self.months[0] if len(self.months) == 1 else f"{self.months[0]}..{self.months[-1]}"

    def message(self, plan: PipelinePlan) -> str:
        assets = " or ".join(f'key:"{plan.key(a).to_user_string()}"' for a in (RAW_DATA, FEATURES, MODEL))
        partition = (
            f"--partition {self.months[0]}"
            if len(self.months) == 1
            else f"--partition-range {self.months[0]}...{self.months[-1]}"
        )
        return (
            f"{plan.key(EVALUATION_REPORT).to_user_string()}[{self.first}] scores the model of "
            f"{self.previous}, which learns from the "
            f"features of {self.span}, and they are not all materialized: materialize raw_data, features and model for "
            f"{self.span} first (`dg launch --assets '{assets}' {partition}`; in the UI select those three assets, "
            f"Materialize selected, partitions {self.span}), or run `python3 dev.py run --pipelines "
            f"{plan.name} --months "
            f"{self.first} ...`, which builds them itself"
        )


def missing_before(plan: PipelinePlan, instance: dg.DagsterInstance, first: str) -> Missing | None:
    """What the evaluation of `first` needs from the months before it and the instance lacks; None when nothing (the
    source's first month, a stored model of the month before, or a month before that was refused: its
    report says so)."""
    keys = plan.partitions_def.get_partition_keys()
    if first not in keys or keys.index(first) == 0:
        return None
    at = keys.index(first)
    previous = keys[at - 1]
    if (
        previous in instance.get_materialized_partitions(plan.key(MODEL))
        or refusal(instance, plan, previous) is not None
    ):
        return None
    window = keys[max(0, at - plan.months_read_by_model) : at]
    stored = instance.get_materialized_partitions(plan.key(FEATURES))
    lacking = [m for m in window if m not in stored] or [previous]
    return Missing(first, previous, keys[keys.index(lacking[0]) : at])
