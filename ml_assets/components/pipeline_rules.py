"""Cross-field rules of a pipeline's YAML, checked when the component loads (each names the setting, the value and
what is allowed). The single settings are checked by their models in config.py; these need the task kind, the
estimator catalog and the source together."""

from __future__ import annotations

from ml_assets.config import PipelineConfigError, refuse


def check_pipeline(spec) -> None:
    """Every rule across the parts of a pipeline's YAML, in the order a reader meets the settings."""
    from ml_assets.tasks import task_class

    if not spec.name.isidentifier():
        refuse(
            "name", spec.name, "letters, digits and underscores (it becomes an asset-key prefix and group)"
        )
    check_partitioning(spec)
    check_features(spec)
    try:
        kind = task_class(spec.task)
    except ValueError as exc:
        raise PipelineConfigError(str(exc)) from None
    kind.check_spec(spec)
    # the model and each baseline: its estimator, and the encoding it is given
    for where, estimator, (encoding_setting, encoding) in [
        ("estimator", spec.estimator, ("features.encoding", spec.features.encoding))
    ] + [
        (f"baselines[{b.key}].estimator", b.estimator, (f"baselines[{b.key}].encoding", b.encoding))
        for b in spec.baselines
    ]:
        check_estimator(where, estimator, kind.estimator_task())
        check_native(encoding_setting, encoding, estimator, kind.estimator_task())
    check_baselines(spec)


def check_native(where: str, encoding: str, estimator, task: str) -> None:
    """`native` codes need an estimator that splits on categories itself."""
    from ml_assets.learning.catalog import NAMED, takes_native_categories

    if encoding == "native" and not takes_native_categories(estimator.kind, task):
        splitting = sorted(
            k for k, by_task in NAMED.items() if task in by_task and takes_native_categories(k, task)
        )
        refuse(
            where,
            "native",
            f"native codes need an estimator that splits on categories itself ({', '.join(splitting)}; "
            f"{estimator.kind} does not): declare onehot, ordinal, target, or auto",
        )


def check_partitioning(spec) -> None:
    """Monthly partitions only for a source that can deliver a month; none only for one that can deliver a table."""
    if spec.partitioning.monthly is not None:
        problem = spec.source.monthly_ready()
        if problem:
            refuse("partitioning.monthly", "set", problem)
    else:
        problem = spec.source.whole_table_ready()
        if problem:
            refuse("partitioning.monthly", None, problem)


def check_features(spec) -> None:
    """Each input declared once and not the target; derived and as-of inputs used where they may be."""
    features, target = spec.features, spec.target.column
    declared = [*features.numeric, *features.categorical]
    doubled = sorted({c for c in declared if declared.count(c) > 1})
    if doubled:
        refuse("features", doubled, "each column under only one of numeric and categorical")
    if target in declared:
        refuse("features", target, f"inputs other than the target column {target!r}")
    as_of_groups = {c for a in features.as_of.aggregates for c in a.by} if features.as_of else set()
    for derived in features.derived:
        setting = f"features.derived[{derived.name}]"
        if derived.name == target:
            if derived.join:
                refuse(setting, derived.name, "a target derived by part_of or minutes_between")
            continue
        if derived.name not in declared and derived.name not in as_of_groups:
            used = "listed under features.numeric or features.categorical, named by target.column"
            refuse(
                setting,
                derived.name,
                f"a derived column is used only when {used}, or grouping an as-of input",
            )
        if (derived.join or derived.bin_of) and derived.name in features.numeric:
            refuse(
                setting,
                derived.name,
                "a joined or binned column is a category: list it under features.categorical",
            )
    if features.as_of is not None:
        check_as_of(features, declared, target)
    if features.encoding == "target" and not features.categorical:
        refuse("features.encoding", "target", "target encoding needs features.categorical")


def check_as_of(features, declared: list[str], target: str) -> None:
    as_of = features.as_of
    for name in as_of.names():
        setting = f"features.as_of.aggregates[{name}]"
        if name not in features.numeric:
            refuse(setting, name, "an as-of input is used only when listed under features.numeric")
        if name in features.derived_names():
            refuse(setting, name, "a name not also given to a derived column")
    if as_of.available_at in declared or as_of.available_at == target:
        known_after = "a column that is not a model input (it is known only afterwards)"
        refuse("features.as_of.available_at", as_of.available_at, known_after)


def check_estimator(where: str, estimator, task: str) -> None:
    """A known estimator of the task, its parameters and searched hyperparameters its constructor takes."""
    from ml_assets.learning.catalog import EstimatorNameError, import_path, parameters_of

    try:
        accepted = parameters_of(import_path(estimator.kind, task))
    except EstimatorNameError as exc:
        raise PipelineConfigError(f"{where}.kind={estimator.kind!r} is not allowed: {exc}") from None
    allowed = f"allowed: {sorted(set(accepted) - {'random_state', 'encoder'})}"
    searched = set(estimator.search.space) if getattr(estimator, "search", None) else set()
    unknown_searched = sorted(searched - set(accepted) | ({"random_state"} & searched))
    if unknown_searched:
        raise PipelineConfigError(
            f"{where}.search.space {unknown_searched} are not hyperparameters of {estimator.kind}; {allowed}"
        )
    unknown = sorted(set(estimator.params) - set(accepted) | ({"random_state"} & set(estimator.params)))
    if unknown:
        seed = " (random_state is set by estimator.random_state)" if "random_state" in unknown else ""
        raise PipelineConfigError(
            f"{where}.params {unknown} are not hyperparameters of {estimator.kind}{seed}; {allowed}"
        )


def check_baselines(spec) -> None:
    keys = [b.key for b in spec.baselines]
    if len(set(keys)) != len(keys):
        refuse("baselines[].key", keys, "distinct keys")
    inputs = {*spec.features.numeric, *spec.features.categorical}
    for baseline in spec.baselines:
        if baseline.columns and inputs and not set(baseline.columns) <= inputs:
            refuse(
                f"baselines[{baseline.key}].columns",
                baseline.columns,
                f"a subset of the model's inputs {sorted(inputs)}",
            )
