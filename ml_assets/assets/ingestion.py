"""raw_trips: one month of trips as the source delivers them, in the normalized schema."""


import hashlib

import pandas as pd
import dagster as dg

from ml_assets import checks
from ml_assets.resources import QualityThresholds, TripSource
from ml_assets.settings import Settings
from ml_assets.sources.schema import SourceDataError
from ml_assets.sources.taxi import SourceUnavailableError


def frame_fingerprint(frame: pd.DataFrame) -> str:
    """A content hash of a frame: equal data gives an equal data version, so nothing cascades."""
    digest = hashlib.sha256(pd.util.hash_pandas_object(frame, index=False).to_numpy().tobytes())
    digest.update(",".join(f"{c}:{t}" for c, t in frame.dtypes.astype(str).items()).encode())
    return digest.hexdigest()[:16]


def _fingerprint_or_unknown(trip_source: TripSource, month: str) -> str:
    """The source version just ingested; the sensor uses it to skip months already current."""
    try:
        return trip_source.fingerprint(month) or "unknown"
    except SourceUnavailableError:
        return "unknown"


def build_raw_trips(partitions_def: dg.PartitionsDefinition, settings: Settings) -> dg.AssetsDefinition:
    @dg.asset(
        name="raw_trips",
        partitions_def=partitions_def,
        group_name="trip_data",
        kinds={"pandas", "parquet"},
        io_manager_key="trip_frame_io_manager",
        check_specs=checks.check_specs("raw_trips", checks.RAW_CHECKS),
        retry_policy=dg.RetryPolicy(
            max_retries=settings.download_retries,
            delay=settings.download_retry_delay_s,
            backoff=dg.Backoff.EXPONENTIAL,
            jitter=dg.Jitter.PLUS_MINUS,
        ),
    )
    def raw_trips(
        context: dg.AssetExecutionContext, trip_source: TripSource, quality_thresholds: QualityThresholds
    ):
        """One month of trips as delivered by the source, normalized to one schema."""
        month = context.partition_key
        try:
            raw, location = trip_source.load_month(month)
        except SourceDataError as exc:
            # Bad data does not get better by retrying; network faults (other errors) do.
            raise dg.Failure(
                description=str(exc),
                metadata={"month": month, "location": exc.location, "problem": exc.problem},
                allow_retries=False,
            ) from exc
        pickups = raw["pickup_datetime"]
        return dg.MaterializeResult(
            value=raw,
            metadata={
                "source": trip_source.name,
                "location": location,
                "source_fingerprint": _fingerprint_or_unknown(trip_source, month),
                "rows": len(raw),
                "first_pickup": str(pickups.min()),
                "last_pickup": str(pickups.max()),
                "columns": ", ".join(raw.columns),
            },
            check_results=checks.raw_trip_checks(raw, month, quality_thresholds.max_outside_month_share),
            data_version=dg.DataVersion(frame_fingerprint(raw)),
        )

    return raw_trips
