"""The monthly schedule: ingest the newest published month; eager automation does the rest."""

from __future__ import annotations

import dagster as dg

INGEST_JOB = "ingest_job"


def build_ingest_job() -> dg.UnresolvedAssetJobDefinition:
    return dg.define_asset_job(
        INGEST_JOB,
        selection=dg.AssetSelection.assets("raw_trips"),
        description="Fetch one month from the source; downstream assets follow through automation.",
    )


def build_monthly_schedule(ingest_job: dg.UnresolvedAssetJobDefinition) -> dg.ScheduleDefinition:
    # The job's last partition is the newest month the source has published (the partitions
    # end ML_ASSETS_PUBLICATION_LAG_MONTHS before the current month), so each tick ingests it.
    return dg.build_schedule_from_partitioned_job(
        ingest_job,
        name="monthly_ingest_schedule",
        day_of_month=3,
        hour_of_day=6,
        default_status=dg.DefaultScheduleStatus.RUNNING,
        description="On the 3rd of each month, ingest the newest published month.",
    )
