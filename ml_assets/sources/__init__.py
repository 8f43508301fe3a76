"""Where a pipeline's raw data comes from: one module per source kind, each holding its YAML spec beside its
reader. A new kind is one module with a `SourceSpecBase` subclass and one line in `SOURCE_KINDS`."""

from __future__ import annotations

import importlib
from typing import Any

from ml_assets.sources.base import DataSource, SourceSpecBase

# kind -> "module:SpecClass" (the spec's `build()` makes the reader)
SOURCE_KINDS: dict[str, str] = {
    "table": "ml_assets.sources.table:TableSpec",
    "csv": "ml_assets.sources.table:TableSpec",
    "parquet": "ml_assets.sources.table:TableSpec",
    "sql": "ml_assets.sources.sql:SqlSpec",
    "sklearn": "ml_assets.sources.sklearn_datasets:SklearnSpec",
    "nycflights13": "ml_assets.sources.flights:FlightsSpec",
    "tlc_taxi": "ml_assets.sources.taxi:TlcTaxiSpec",
}


class SourceConfigError(ValueError):
    pass


def spec_class(kind: Any) -> type[SourceSpecBase]:
    if kind not in SOURCE_KINDS:
        raise SourceConfigError(f"source.kind={kind!r} is not allowed: one of {sorted(SOURCE_KINDS)}")
    module, _, name = SOURCE_KINDS[kind].partition(":")
    return getattr(importlib.import_module(module), name)


def parse_source(value: Any) -> SourceSpecBase:
    """The `source:` mapping of a defs.yaml as its kind's spec; errors name the field and what is allowed."""
    from pydantic import ValidationError

    if isinstance(value, SourceSpecBase):
        return value
    if not isinstance(value, dict) or "kind" not in value:
        raise SourceConfigError(
            f"source={value!r} is not allowed: a mapping with a `kind`, one of {sorted(SOURCE_KINDS)}"
        )
    cls = spec_class(value["kind"])
    try:
        return cls.model_validate(value)
    except ValidationError as exc:
        problems = []
        for error in exc.errors():
            field = ".".join(str(p) for p in error["loc"])
            if error["type"] == "extra_forbidden":
                allowed = sorted(cls.model_fields)
                problems.append(
                    f"source.{field} is not a setting of kind {value['kind']!r}; its settings are {allowed}"
                )
            elif field:
                problems.append(f"source.{field}={error.get('input')!r} is not allowed: {error['msg']}")
            else:
                problems.append(error["msg"].removeprefix("Value error, "))
        raise SourceConfigError("; ".join(problems)) from None


__all__ = ["SOURCE_KINDS", "DataSource", "SourceConfigError", "SourceSpecBase", "parse_source", "spec_class"]
