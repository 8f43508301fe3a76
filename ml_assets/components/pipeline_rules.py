"""Cross-field rules of a pipeline's YAML, checked when the component loads (each names the setting, the value and
what is allowed). The single settings are checked by their models in config.py; these need the task kind, the
estimator catalog and the source together."""

from __future__ import annotations

from ml_assets.config import PipelineConfigError, refuse


def check_pipeline(spec) -> None:
    """Cross-field rules of a pipeline, checked at load: each failure names the setting, the value and what
    is allowed."""
    from ml_assets.learning.catalog import EstimatorNameError, import_path, parameters_of

    task, features, source = spec.task, spec.features, spec.source
    if not spec.name.isidentifier():
        refuse(
            "name", spec.name, "letters, digits and underscores (it becomes an asset-key prefix and group)"
        )
    monthly = spec.partitioning.monthly
    if monthly is not None:
        problem = source.monthly_ready()
        if problem:
            refuse("partitioning.monthly", "set", problem)
    else:
        problem = source.whole_table_ready()
        if problem:
            refuse("partitioning.monthly", None, problem)
    declared = [*features.numeric, *features.categorical]
    doubled = sorted({c for c in declared if declared.count(c) > 1})
    if doubled:
        refuse("features", doubled, "each column under only one of numeric and categorical")
    if spec.target.column in declared:
        refuse("features", spec.target.column, f"inputs other than the target column {spec.target.column!r}")
    for derived in features.derived:
        if derived.name == spec.target.column:
            if derived.join:
                refuse(
                    f"features.derived[{derived.name}]",
                    derived.name,
                    "a target derived by part_of or minutes_between",
                )
            continue
        as_of_groups = {c for a in features.as_of.aggregates for c in a.by} if features.as_of else set()
        if derived.name not in declared and derived.name not in as_of_groups:
            refuse(
                f"features.derived[{derived.name}]",
                derived.name,
                "a derived column is used only when listed under features.numeric or features.categorical, "
                "named by target.column, "
                "or grouping an as-of input (features.as_of.aggregates[].by)",
            )
        if (derived.join or derived.bin_of) and derived.name in features.numeric:
            refuse(
                f"features.derived[{derived.name}]",
                derived.name,
                "a joined or binned column is a category: list it under features.categorical",
            )
    if features.as_of is not None:
        as_of = features.as_of
        for name in as_of.names():
            if name not in features.numeric:
                refuse(
                    f"features.as_of.aggregates[{name}]",
                    name,
                    "an as-of input is used only when listed under features.numeric",
                )
            if name in features.derived_names():
                refuse(
                    f"features.as_of.aggregates[{name}]", name, "a name not also given to a derived column"
                )
        if as_of.available_at in declared or as_of.available_at == spec.target.column:
            refuse(
                "features.as_of.available_at",
                as_of.available_at,
                "a column that is not a model input (it is known only afterwards)",
            )
    if features.encoding == "target" and not features.categorical:
        refuse("features.encoding", "target", "target encoding needs features.categorical")
    from ml_assets.tasks import task_class

    try:
        kind = task_class(task)
    except ValueError as exc:
        raise PipelineConfigError(str(exc)) from None
    kind.check_spec(spec)
    for where, estimator in [("estimator", spec.estimator)] + [
        (f"baselines[{b.key}].estimator", b.estimator) for b in spec.baselines
    ]:
        try:
            path = import_path(estimator.kind, kind.estimator_task())
            accepted = parameters_of(path)
        except EstimatorNameError as exc:
            raise PipelineConfigError(f"{where}.kind={estimator.kind!r} is not allowed: {exc}") from None
        searched = set(estimator.search.space) if getattr(estimator, "search", None) else set()
        unknown_searched = sorted(searched - set(accepted) | ({"random_state"} & searched))
        if unknown_searched:
            raise PipelineConfigError(
                f"{where}.search.space {unknown_searched} are not hyperparameters of {estimator.kind}; "
                f"allowed: {sorted(set(accepted) - {'random_state', 'encoder'})}"
            )
        unknown = sorted(set(estimator.params) - set(accepted) | ({"random_state"} & set(estimator.params)))
        if unknown:
            raise PipelineConfigError(
                f"{where}.params {unknown} are not hyperparameters of {estimator.kind}"
                + (" (random_state is set by estimator.random_state)" if "random_state" in unknown else "")
                + f"; allowed: {sorted(set(accepted) - {'random_state', 'encoder'})}"
            )
    keys = [b.key for b in spec.baselines]
    if len(set(keys)) != len(keys):
        refuse("baselines[].key", keys, "distinct keys")
    inputs = set(declared)
    for baseline in spec.baselines:
        if baseline.columns and inputs and not set(baseline.columns) <= inputs:
            refuse(
                f"baselines[{baseline.key}].columns",
                baseline.columns,
                f"a subset of the model's inputs {sorted(inputs)}",
            )
