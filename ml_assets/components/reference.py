"""The configuration reference (docs/configuration-reference.md), rendered from the YAML's own models: every part of a
pipeline's `defs.yaml` and every field of every source kind, with its type, default and description. `python3 dev.py
docs` writes it; a test fails when the file and the models disagree."""

from __future__ import annotations

import types
import typing
from typing import Any

from pydantic import BaseModel
from pydantic_core import PydanticUndefined

HEADER = """# Configuration reference

Every setting of a pipeline's `defs.yaml` (the `TrainingPipeline` component), generated from the models that
validate it by `python3 dev.py docs`; do not edit by hand. [configuration.md](configuration.md) explains the
environment, [bring-your-own-data.md](bring-your-own-data.md) walks through whole files. Any value may be templated
from the environment (`"{{ env('NAME', 'default') }}"`); it is validated once rendered.
"""

SQL_EXAMPLE = """```yaml
  source:
    kind: sql
    url_env: PENGUINS_DB_URL  # the NAME of the variable holding postgresql://reader:secret@host:5432/zoo
    query: "SELECT species, island, bill_length_mm, flipper_length_mm, body_mass_g FROM penguins"
```"""


def type_name(annotation: Any) -> str:
    """A field's type as a reader of YAML would write it."""
    origin, args = typing.get_origin(annotation), typing.get_args(annotation)
    if origin is typing.Annotated:
        return type_name(args[0])
    if origin is typing.Literal:
        return " \\| ".join(f"`{a}`" for a in args)
    if origin in (typing.Union, types.UnionType):
        return " or ".join(type_name(a) for a in args if a is not type(None)) + (
            " or null" if type(None) in args else ""
        )
    if origin in (list, tuple):
        return f"list of {type_name(args[0])}" if args else "list"
    if origin is dict:
        return f"mapping of {type_name(args[0])} to {type_name(args[1])}" if args else "mapping"
    if isinstance(annotation, type) and issubclass(annotation, BaseModel):
        return f"[{annotation.__name__}](#{annotation.__name__.lower()})"
    return {str: "text", int: "integer", float: "number", bool: "true/false"}.get(
        annotation, getattr(annotation, "__name__", str(annotation))
    )


def default_of(field: Any) -> str:
    if field.is_required():
        return "required"
    if field.default_factory is not None:
        value = field.default_factory()
        return "`[]`" if value == [] else ("`{}`" if value == {} else "its defaults")
    if field.default in (None, PydanticUndefined):
        return "`null`"
    if isinstance(field.default, bool):
        return f"`{str(field.default).lower()}`"
    return '`""`' if field.default == "" else f"`{field.default}`"


def nested_models(annotation: Any) -> list[type[BaseModel]]:
    if isinstance(annotation, type) and issubclass(annotation, BaseModel):
        return [annotation]
    return [m for arg in typing.get_args(annotation) for m in nested_models(arg)]


def model_table(model: type[BaseModel]) -> str:
    rows = ["| setting | type | default | meaning |", "|---|---|---|---|"]
    for name, field in model.model_fields.items():
        description = " ".join((field.description or "").split()).replace("|", "\\|")
        rows.append(f"| `{name}` | {type_name(field.annotation)} | {default_of(field)} | {description} |")
    return "\n".join(rows)


def sections(model: type[BaseModel], seen: set[type[BaseModel]]) -> list[str]:
    """`model`'s table, then the tables of the models its fields hold, once each."""
    if model in seen:
        return []
    seen.add(model)
    doc = " ".join((model.__doc__ or "").split())
    out = [f"### {model.__name__}\n\n{doc}\n\n{model_table(model)}\n"]
    for field in model.model_fields.values():
        for nested in nested_models(field.annotation):
            out += sections(nested, seen)
    return out


def render() -> str:
    from ml_assets.components.training_pipeline import PARTS, TrainingPipeline
    from ml_assets.sources import SOURCE_KINDS, spec_class

    top = ["| setting | type | default | meaning |", "|---|---|---|---|"]
    for name, field in TrainingPipeline.model_fields.items():
        model = PARTS.get(name)
        kind = (
            type_name(model)
            if model is not None
            else ("a source kind, below" if name == "source" else type_name(field.annotation))
        )
        resolver = next((m for m in field.metadata if hasattr(m, "description") and m.description), None)
        description = (field.description or getattr(resolver, "description", "") or "").replace("|", "\\|")
        top.append(f"| `{name}` | {kind} | {default_of(field)} | {' '.join(description.split())} |")
    seen: set[type[BaseModel]] = set()
    parts = [
        s
        for model in PARTS.values()
        for s in sections(typing.get_args(model)[0] if typing.get_args(model) else model, seen)
    ]
    kinds: dict[type, list[str]] = {}
    for kind in SOURCE_KINDS:
        kinds.setdefault(spec_class(kind), []).append(kind)
    sources = []
    for spec, names in kinds.items():
        doc = " ".join((spec.__doc__ or "").split())
        sources.append(f"### `kind: {' / '.join(names)}`\n\n{doc}\n\n{model_table(spec)}\n")
    return (
        "\n".join(
            [
                HEADER,
                "## The pipeline\n",
                "\n".join(top) + "\n",
                "## Sources\n",
                "`source.kind` picks one of these; each kind takes only its own settings. A database "
                "table, for example:\n",
                SQL_EXAMPLE + "\n",
                *sources,
                "## The parts\n",
                *parts,
            ]
        ).rstrip()
        + "\n"
    )


# python -m ml_assets.components.reference docs/configuration-reference.md (dev.py docs)
if __name__ == "__main__":
    import sys
    from pathlib import Path

    Path(sys.argv[1]).write_text(render())
