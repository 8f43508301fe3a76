"""Cleaning rules and model features for one month of raw trips (pure pandas, no Dagster)."""

from __future__ import annotations

from dataclasses import dataclass
from typing import TYPE_CHECKING

from ml_assets.months import month_bounds

if TYPE_CHECKING:  # imported where used: the code location loads without them
    import pandas as pd

TARGET = "duration_min"
CATEGORICAL_FEATURES = ("origin", "destination", "route", "carrier")
NUMERIC_FEATURES = ("distance", "pickup_hour", "pickup_dow", "pickup_minute_of_day")


@dataclass(frozen=True)
class DurationBounds:
    """Trips with a target outside [low, high] minutes are dropped (taxi course rule: [1, 60])."""

    low: float
    high: float


def clean_trips(raw: pd.DataFrame, month: str, bounds: DurationBounds) -> tuple[pd.DataFrame, dict[str, int]]:
    """Apply the cleaning rules in order; returns the kept rows and how many each rule dropped."""
    start, end = month_bounds(month)
    required = ["pickup_datetime", "origin", "destination", "distance", TARGET]
    rules = {
        "missing_values": lambda f: f[required].notna().all(axis=1),
        "pickup_outside_month": lambda f: (f["pickup_datetime"] >= start) & (f["pickup_datetime"] < end),
        "negative_distance": lambda f: f["distance"] >= 0,
        "duration_out_of_range": lambda f: f[TARGET].between(bounds.low, bounds.high),
    }
    dropped: dict[str, int] = {}
    kept = raw
    for name, keep in rules.items():
        mask = keep(kept)
        dropped[name] = int((~mask).sum())
        kept = kept[mask]
    return kept.reset_index(drop=True), dropped


def route_labels(origin: pd.Series, destination: pd.Series) -> pd.Series:
    """`<origin>_<destination>` per trip, formatted once per distinct route rather than per row."""
    import numpy as np
    import pandas as pd

    origin_codes, origins = pd.factorize(origin)
    destination_codes, destinations = pd.factorize(destination)
    if (origin_codes < 0).any() or (destination_codes < 0).any():  # missing ids: plain concatenation keeps <NA>
        return (origin.astype("string") + "_" + destination.astype("string")).astype("string")
    pair_codes, pairs = pd.factorize(origin_codes.astype("int64") * len(destinations) + destination_codes)
    labels = np.array(
        [f"{origins[p // len(destinations)]}_{destinations[p % len(destinations)]}" for p in pairs], dtype=object
    )
    return pd.Series(labels[pair_codes], index=origin.index, dtype="string")


def add_features(trips: pd.DataFrame, day_of_week: bool = True) -> pd.DataFrame:
    """Model inputs plus target: categorical ids, the origin-destination route and time of day/week.

    `day_of_week=False` leaves the weekday out: for flights, one training month holds only
    four or five of each weekday, so the weekday would memorize that month's weather days.
    """
    import pandas as pd

    pickup = trips["pickup_datetime"]
    features = pd.DataFrame(
        {
            "pickup_datetime": pickup,
            "origin": trips["origin"].astype("string"),
            "destination": trips["destination"].astype("string"),
            "route": route_labels(trips["origin"], trips["destination"]),
            "distance": trips["distance"].astype("float64"),
            "pickup_hour": pickup.dt.hour.astype("int16"),
            "pickup_minute_of_day": (pickup.dt.hour * 60 + pickup.dt.minute).astype("int16"),
        }
    )
    if day_of_week:
        features["pickup_dow"] = pickup.dt.dayofweek.astype("int16")
    if "carrier" in trips.columns:
        features["carrier"] = trips["carrier"].astype("string")
    features[TARGET] = trips[TARGET].astype("float64")
    return features


def build_trip_features(
    raw: pd.DataFrame, month: str, bounds: DurationBounds, day_of_week: bool = True
) -> tuple[pd.DataFrame, dict[str, int]]:
    cleaned, dropped = clean_trips(raw, month, bounds)
    return add_features(cleaned, day_of_week), dropped


def feature_columns(features: pd.DataFrame) -> tuple[list[str], list[str]]:
    """(categorical, numeric) model inputs present in this frame; sources differ in extras."""
    return (
        [c for c in CATEGORICAL_FEATURES if c in features.columns],
        [c for c in NUMERIC_FEATURES if c in features.columns],
    )
