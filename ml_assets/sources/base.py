"""The source contract every kind implements, and the errors sources raise (with their retry meaning)."""

from __future__ import annotations

from typing import TYPE_CHECKING, ClassVar

from pydantic import BaseModel, ConfigDict, Field

if TYPE_CHECKING:  # imported where used: the code location loads without them
    import pandas as pd


class SourceDataError(Exception):
    """The source's data is unusable (not retried): names the month, the location and the problem."""

    def __init__(self, month: str, location: str, problem: str):
        self.month, self.location, self.problem = month, location, problem
        where = f"month {month}: " if month and month != "-" else ""
        super().__init__(f"{where}{location}: {problem}")


class MonthNotAvailableError(SourceDataError):
    """The source does not (yet) publish this month."""


class SourceUnavailableError(Exception):
    """A transient fault reaching the source (network, 5xx, short read): worth retrying."""


class SourceSpecBase(BaseModel):
    """Fields every source kind has; each kind adds its own (one module per kind, see sources/__init__.py)."""

    model_config = ConfigDict(extra="forbid")

    kind: str = Field(description="The source kind (sources/__init__.py lists them).")
    timeout_s: float = Field(default=60.0, gt=0, description="Network or connection timeout, seconds.")

    # what a kind can do: monthly partitions (by file template or time column) and offline use
    def monthly_ready(self) -> str | None:
        """None when this source can deliver one month per partition; else what to declare."""
        return f"source kind {self.kind!r} is one table: leave partitioning.monthly unset"

    def whole_table_ready(self) -> str | None:
        """None when this source can deliver the whole table at once (an unpartitioned pipeline); else what
        to declare."""
        return None

    def build(self) -> DataSource:
        raise NotImplementedError


class DataSource:
    """One pipeline's raw data; `partition` is a YYYY-MM month or None for the whole table."""

    label: str = "source"
    offline: bool = True  # whether it works without a network (dev.py run materializes only those)
    time_column: ClassVar[str | None] = None

    def location(self, partition: str | None) -> str:
        raise NotImplementedError

    def load(self, partition: str | None, cache_dir: str) -> tuple[pd.DataFrame, str]:
        raise NotImplementedError

    def fingerprint(self, partition: str | None) -> str | None:
        """Which version the source holds now (None: not published), so the sensor requests only what changed."""
        raise NotImplementedError

    def loaded_fingerprint(self, partition: str | None, cache_dir: str) -> str | None:
        """The version `load` just read; by default the source is asked again."""
        return self.fingerprint(partition)
