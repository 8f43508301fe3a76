"""The rows a task learns from: the target as the kind reads it, the declared inputs (derived and as-of ones
included), what makes a delivery unusable, the raw checks, and the cleaning rules with what each dropped."""

from __future__ import annotations

import warnings
from collections.abc import Callable
from typing import TYPE_CHECKING, Any

from ml_assets.tasks import checks
from ml_assets.tasks.checks import CheckOutcome
from ml_assets.tasks.results import StepResult
from ml_assets.ui_values import for_ui

if TYPE_CHECKING:  # imported where used: the code location loads without them
    import pandas as pd

# raw_data's column marking the rows before the month kept only as as-of history (features.as_of)
HISTORY_MARK = "as_of_history"


def plain(value: Any) -> Any:
    """A numpy scalar as the Python value it holds, for messages (3750.0, not np.float64(3750.0))."""
    return value.item() if hasattr(value, "item") else value


def cleaning_metadata(raw_rows: int, kept_rows: int, dropped: dict[str, int]) -> dict[str, Any]:
    """Rows in and out of cleaning, the share kept and how many each rule dropped."""
    return {
        "rows_in": raw_rows,
        "rows_out": kept_rows,
        "retention_ratio": for_ui(kept_rows / raw_rows if raw_rows else 0.0),
        **{f"dropped_{rule}": count for rule, count in dropped.items()},
    }


class RowCleaning:
    """Mixed into `Task`: the kind's target hooks, its inputs, the raw table's refusals and checks, and cleaning."""

    # ---- target (the kind's own) -----------------------------------------------------------------------------
    def target_problems(self, values: pd.Series) -> list[str]:
        return []

    def prepare_target(self, values: pd.Series) -> pd.Series:
        return values

    # ---- inputs ------------------------------------------------------------------------------------------------
    def inputs(self, frame: pd.DataFrame) -> tuple[list[str], list[str]]:
        """(categorical, numeric) inputs: as declared, or every non-target column by dtype (timestamps left out)."""
        import pandas as pd

        spec = self.feature_spec
        if spec.numeric or spec.categorical:
            return list(spec.categorical), list(spec.numeric)
        categorical, numeric = [], []
        for column in frame.columns:
            if column in (self.target_column, self.time_column) or pd.api.types.is_datetime64_any_dtype(
                frame[column]
            ):
                continue
            (
                numeric
                if pd.api.types.is_numeric_dtype(frame[column])
                and not pd.api.types.is_bool_dtype(frame[column])
                else categorical
            ).append(column)
        return categorical, numeric

    def derived(self) -> tuple[tuple, ...]:
        """The derived model inputs (a derived target is computed in `clean`, never an input)."""
        return tuple(d.as_tuple() for d in self.feature_spec.derived if d.name != self.target_column)

    def derived_target(self) -> tuple | None:
        """The target's derivation, when target.column names a derived column (e.g. minutes between two timestamps)."""
        return next((d.as_tuple() for d in self.feature_spec.derived if d.name == self.target_column), None)

    def with_derived_target(self, raw: pd.DataFrame) -> pd.DataFrame:
        from ml_assets.learning.inputs import derive

        found = self.derived_target()
        return raw if found is None else raw.assign(**{self.target_column: derive(raw, *found)})

    def source_columns(self, frame: pd.DataFrame) -> list[str]:
        """The delivered columns the inputs are computed from (as-of inputs are computed in the features step)."""
        from ml_assets.learning.inputs import DeclaredInputs

        categorical, numeric = self.inputs(frame)
        as_of = set(self.feature_spec.as_of_names())
        return DeclaredInputs(
            categorical, [c for c in numeric if c not in as_of], self.derived()
        ).source_columns()

    def as_of_source_columns(self) -> list[str]:
        """The delivered columns the as-of inputs are computed from."""
        as_of = self.feature_spec.as_of
        if as_of is None:
            return []
        derived = {d.name: d.as_tuple() for d in self.feature_spec.derived}
        needed = [as_of.time, as_of.available_at]
        for aggregate in as_of.aggregates:
            groups = [c for g in aggregate.by for c in (derived[g][2] if g in derived else [g])]
            needed += [aggregate.of, *([aggregate.to] if aggregate.to else []), *groups]
        return list(dict.fromkeys(needed))

    @staticmethod
    def own_rows(raw: pd.DataFrame) -> pd.DataFrame:
        """The month's own rows, without those kept only as as-of history."""
        if HISTORY_MARK not in raw.columns:
            return raw
        return (
            raw[~raw[HISTORY_MARK].to_numpy(dtype=bool)].drop(columns=[HISTORY_MARK]).reset_index(drop=True)
        )

    def with_as_of(self, raw: pd.DataFrame) -> pd.DataFrame:
        """The rows with their as-of inputs, each from the rows (history included) available before its time."""
        from ml_assets.learning.as_of import as_of_aggregates

        as_of = self.feature_spec.as_of
        if as_of is None:
            return raw
        time, available_at, aggregates = as_of.as_tuple()
        derived = tuple(d.as_tuple() for d in self.feature_spec.derived)
        return raw.assign(**as_of_aggregates(raw, time, available_at, aggregates, derived))

    # ---- the raw table ---------------------------------------------------------------------------------------
    def refusals(self, raw: pd.DataFrame) -> list[str]:
        """Problems that make the delivered rows unusable: refused before they replace a good copy."""
        import pandas as pd

        if raw.empty:
            return ["the source delivered no rows"]
        columns = list(map(str, raw.columns))
        derived_target = self.derived_target()
        if derived_target is not None:
            missing = [c for c in derived_target[2] if c not in raw.columns]
            if missing:
                return [
                    f"target.column {self.target_column!r} is derived from {missing}, which are not among "
                    f"the delivered columns {columns}"
                ]
            raw = self.with_derived_target(raw)
        elif self.target_column not in raw.columns:
            return [f"target.column {self.target_column!r} is not among the delivered columns {columns}"]
        missing = [c for c in self.source_columns(raw) if c not in raw.columns]
        if missing:
            return [f"the declared feature column(s) {missing} are not among the delivered columns {columns}"]
        missing = [c for c in self.as_of_source_columns() if c not in raw.columns]
        if missing:
            return [
                f"features.as_of needs the column(s) {missing}, which are not among the delivered columns {columns}"
            ]
        from ml_assets.learning.estimators import columns_named_by

        categorical, numeric = self.inputs(raw)
        if self.feature_spec.encoding == "none":
            for column in categorical:
                values = raw[column].dropna() if column in raw.columns else raw.iloc[:0, 0]
                text = values[pd.to_numeric(values, errors="coerce").isna()]
                if len(text):
                    return [
                        "features.encoding=none passes the categorical inputs to the estimator as they "
                        f"are, and {column!r} "
                        f"holds text (e.g. {plain(text.iloc[0])!r}): choose onehot, ordinal or target"
                    ]
        for param, named in columns_named_by(
            self.estimator.kind, self.estimator_task(), dict(self.estimator.params)
        ).items():
            side = categorical if param.endswith("categorical") else numeric
            if any(c not in side for c in named):
                return [
                    f"estimator.params.{param}={named} names columns that are not its kind of model input: the "
                    f"{'categorical' if side is categorical else 'numeric'} inputs are {side}"
                ]
        problems = []
        derived = {d.name: d for d in self.feature_spec.derived}
        for column in numeric:
            if column in raw.columns and column not in derived:
                values = raw[column]
                parsed = pd.to_numeric(values, errors="coerce")
                bad = values[parsed.isna() & values.notna()]
                if len(bad):
                    problems.append(
                        f"features.numeric column {column!r} holds text (e.g. {plain(bad.iloc[0])!r} in "
                        f"{len(bad)} rows): "
                        "list it under features.categorical, or add the value to source.na_values"
                    )
        as_of = self.feature_spec.as_of
        timestamps = [
            (f"features.derived[{d.name}]", c)
            for d in self.feature_spec.derived
            for c in ([d.part_of] if d.part_of else (d.minutes_between or []))
        ]
        timestamps += [("features.as_of", c) for c in ((as_of.time, as_of.available_at) if as_of else ())]
        for setting, column in timestamps:
            try:
                with warnings.catch_warnings():  # text that is no timestamp makes pandas warn before it fails
                    warnings.simplefilter("ignore", UserWarning)
                    pd.to_datetime(raw[column].head(1000))
            except (ValueError, TypeError):
                problems.append(
                    f"{setting} needs timestamps in {column!r}, which holds e.g. {plain(raw[column].iloc[0])!r}"
                )
        return problems + self.target_problems(raw[self.target_column])

    def raw(self, raw: pd.DataFrame, partition: str | None) -> StepResult:
        problems = self.refusals(raw)
        results = [
            checks.outcome(
                checks.RAW_SCHEMA, partition, not problems, problems="; ".join(problems) or "none"
            ),
            checks.outcome(checks.RAW_NOT_EMPTY, partition, len(raw) > 0, rows=len(raw)),
        ]
        metadata: dict[str, Any] = {}
        if self.monthly and self.time_column:
            outside = self.outside_month(raw, partition)
            share = float(outside.mean()) if len(raw) else 0.0
            metadata.update(
                {
                    "first_time": str(raw[self.time_column].min()),
                    "last_time": str(raw[self.time_column].max()),
                }
            )
            results.append(
                checks.outcome(
                    checks.RAW_ROWS_IN_MONTH,
                    partition,
                    share <= self.quality.max_outside_month_share,
                    rows_outside_month=int(outside.sum()),
                    share_outside_month=share,
                    max_share=float(self.quality.max_outside_month_share),
                )
            )
        extra, more = self.raw_extras(self.with_derived_target(raw), partition)
        return StepResult(raw, {**metadata, **more}, results + extra)

    def raw_extras(self, raw: pd.DataFrame, partition: str | None) -> tuple[list[CheckOutcome], dict]:
        return [], {}

    def outside_month(self, frame: pd.DataFrame, partition: str | None):
        import pandas as pd

        from ml_assets.months import month_bounds

        start, end = month_bounds(partition)
        stamps = pd.to_datetime(frame[self.time_column])
        if getattr(stamps.dt, "tz", None) is not None:
            stamps = stamps.dt.tz_localize(None)
        return ~((stamps >= start) & (stamps < end)).to_numpy()

    # ---- features: the cleaned rows -------------------------------------------------------------------------
    def clean(self, raw: pd.DataFrame, partition: str | None) -> tuple[pd.DataFrame, dict[str, int]]:
        """Rows kept for training and evaluation, and how many each rule dropped (in the order applied)."""
        spec = self.feature_spec
        # before any row is dropped: every delivered row is history
        raw = self.with_as_of(self.with_derived_target(raw))
        raw = self.own_rows(raw)
        keep = [
            c
            for c in raw.columns
            if c in {*self.source_columns(raw), *spec.as_of_names(), self.target_column, self.time_column}
        ]
        frame = raw[keep]
        rules: dict[str, Callable[[pd.DataFrame], Any]] = {
            "missing_target": lambda f: f[self.target_column].notna().to_numpy()
        }
        if self.monthly and self.time_column and self.time_column in frame.columns:
            rules["outside_month"] = lambda f: ~self.outside_month(f, partition)
        if spec.drop_missing:
            columns = self.source_columns(raw) if spec.drop_missing is True else list(spec.drop_missing)
            rules["missing_values"] = lambda f: f[columns].notna().all(axis=1).to_numpy()
        for column, bounds in spec.filters.items():
            rules[f"{column}_out_of_range"] = lambda f, c=column, b=bounds: self._within(f[c], b.min, b.max)
        rules.update(self.row_rules())
        dropped: dict[str, int] = {}
        for rule, keep_mask in rules.items():
            mask = keep_mask(frame)
            dropped[rule] = int((~mask).sum())
            frame = frame[mask]
        frame = frame.reset_index(drop=True)
        frame[self.target_column] = self.prepare_target(frame[self.target_column])
        return frame, dropped

    @staticmethod
    def _within(values, low: float | None, high: float | None):
        import numpy as np
        import pandas as pd

        numbers = pd.to_numeric(values, errors="coerce")
        mask = np.ones(len(values), dtype=bool)
        if low is not None:
            mask &= (numbers >= low).to_numpy()
        if high is not None:
            mask &= (numbers <= high).to_numpy()
        return mask

    def row_rules(self) -> dict[str, Callable]:
        return {}

    def features(self, raw: pd.DataFrame, partition: str | None) -> StepResult:
        frame, dropped = self.clean(raw, partition)
        categorical, numeric = self.inputs(frame)
        must_be_whole = [self.target_column] + (
            (
                self.source_columns(frame)
                if self.feature_spec.drop_missing is True
                else list(self.feature_spec.drop_missing)
            )
            if self.feature_spec.drop_missing
            else []
        )
        nulls = {c: int(n) for c, n in frame[must_be_whole].isna().sum().items() if n}
        raw = self.own_rows(raw)
        retention = len(frame) / len(raw) if len(raw) else 0.0
        results = [
            checks.outcome(checks.FEATURES_NO_NULLS, partition, not nulls, null_counts=str(nulls or "none")),
            checks.outcome(
                checks.FEATURES_RETENTION,
                partition,
                retention >= self.quality.min_retention_ratio,
                retention_ratio=float(retention),
                min_ratio=float(self.quality.min_retention_ratio),
            ),
            checks.outcome(
                checks.FEATURES_ENOUGH_ROWS,
                partition,
                len(frame) >= self.quality.min_rows,
                rows=len(frame),
                min_rows=self.quality.min_rows,
            ),
        ]
        extra, more = self.feature_extras(frame, partition)
        gaps = {c: int(n) for c, n in frame.drop(columns=[self.target_column]).isna().sum().items() if n}
        return StepResult(
            frame,
            {
                **cleaning_metadata(len(raw), len(frame), dropped),
                "categorical_features": ", ".join(categorical) or "none",
                "numeric_features": ", ".join(numeric) or "none",
                "missing_values_left_to_imputers": str(gaps or "none"),
                **more,
            },
            results + extra,
        )

    def feature_extras(self, frame: pd.DataFrame, partition: str | None) -> tuple[list[CheckOutcome], dict]:
        return [], {}
