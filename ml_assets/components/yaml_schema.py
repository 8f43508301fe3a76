"""How the YAML parts of a pipeline (config.py's plain pydantic models, the source kinds) meet Dagster's component
loader: templates (`{{ env(...) }}`) are rendered first, anywhere in a part, then the part is validated by its model,
and the component's JSON schema (`dg utils inspect-component`, editors) shows every part's fields."""

from __future__ import annotations

from typing import Annotated, Any, Union

import dagster as dg
from pydantic import Field, PlainValidator, TypeAdapter
from pydantic_core import core_schema

from ml_assets.config import PipelineConfigError
from ml_assets.sources import SOURCE_KINDS, SourceConfigError, parse_source, spec_class


def _as_written(value: Any) -> Any:
    return value  # validated after rendering, by the part's own model (see `part`)


def part(model: Any, description: str) -> dg.Resolver:
    """A YAML part validated by `model` (a pydantic model, or a list of them) once its templates are rendered; its
    schema is `model`'s, so every field is listed, typed and described."""
    adapter = TypeAdapter(model)

    def resolve(context: dg.ResolutionContext, value: Any):
        return adapter.validate_python(context.resolve_value(value))

    return dg.Resolver(
        resolve,
        model_field_type=Annotated[Any, PlainValidator(_as_written, json_schema_input_type=model)],
        description=description,
    )


class SourceMapping:
    """The `source:` part in the schema: one of the source kinds' specs, chosen by `kind`. Its schema is made only when
    asked for (the kinds' modules are imported on use, so the code location loads fast); it is validated by
    `parse_source`, whose errors name the setting and the kind's settings."""

    @classmethod
    def __get_pydantic_core_schema__(cls, source: Any, handler: Any) -> core_schema.CoreSchema:
        return core_schema.any_schema()

    @classmethod
    def __get_pydantic_json_schema__(cls, schema: core_schema.CoreSchema, handler: Any) -> dict[str, Any]:
        specs = tuple(dict.fromkeys(spec_class(kind) for kind in SOURCE_KINDS))
        kinds = TypeAdapter(Annotated[Union[specs], Field(discriminator="kind")])  # noqa: UP007 (a tuple of classes)
        return handler(kinds.core_schema)


def _resolve_source(context: dg.ResolutionContext, value: Any):
    try:
        return parse_source(context.resolve_value(value))
    except SourceConfigError as exc:
        raise PipelineConfigError(str(exc)) from None


SOURCE = dg.Resolver(
    _resolve_source,
    model_field_type=SourceMapping,
    description=f"Where the raw data comes from: `kind` (one of {sorted(SOURCE_KINDS)}) and that kind's settings "
    "(ml_assets/sources/<kind>.py; docs/configuration.md).",
)
