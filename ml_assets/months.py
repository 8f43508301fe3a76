"""Month arithmetic on YYYY-MM keys, in plain Python: the YAML is validated and the partitions
are built when the code location loads, which does not import pandas."""

from __future__ import annotations

from collections.abc import Sequence
from typing import TYPE_CHECKING

if TYPE_CHECKING:
    import pandas as pd

MONTH_FMT = "%Y-%m"


def _index(month: str) -> int:
    return int(month[:4]) * 12 + int(month[5:]) - 1


def _key(index: int) -> str:
    return f"{index // 12:04d}-{index % 12 + 1:02d}"


def month_bounds(month: str) -> tuple[pd.Timestamp, pd.Timestamp]:
    """[start, end) timestamps of a YYYY-MM month."""
    import pandas as pd

    return pd.Timestamp(f"{month}-01"), pd.Timestamp(f"{next_month(month)}-01")


def next_month(month: str) -> str:
    return _key(_index(month) + 1)


def window_ending(last: str, size: int) -> list[str]:
    """The `size` calendar months ending with `last`, oldest first: a training window of `size` months."""
    return [_key(i) for i in range(_index(last) - size + 1, _index(last) + 1)]


def months_between(first: str, last: str) -> list[str]:
    """Every YYYY-MM key from `first` to `last`, both included."""
    return [_key(i) for i in range(_index(first), _index(last) + 1)]


def is_month(value: str) -> bool:
    """Whether `value` is a real month written YYYY-MM."""
    if not isinstance(value, str) or len(value) != 7 or value[4] != "-":
        return False
    year, month = value[:4], value[5:]
    return year.isdigit() and month.isdigit() and 1 <= int(month) <= 12


def month_span(months: Sequence[str], count: bool = False) -> str:
    """`2013-01..2013-03` (one month: `2013-01`), months oldest first; with `count`, `2013-01..2013-03 (3 months)`."""
    if len(months) == 1:
        return months[0]
    return f"{months[0]}..{months[-1]}" + (f" ({len(months)} months)" if count else "")
