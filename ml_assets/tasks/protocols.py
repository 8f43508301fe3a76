"""The two evaluation protocols every task kind gets (pure pandas and scikit-learn).

- next month (monthly pipelines): the model trained on month M-1 scored on month M, every baseline fitted on M-1;
- cross-validation (unpartitioned): repeated K-fold on the same folds for the model and every baseline (mean ± sd,
  paired differences), and the registered model scored on its held-out split.

The task kind supplies the metrics, the trivial baseline, the splitter and the report's own parts.
"""

from __future__ import annotations

from typing import TYPE_CHECKING

from ml_assets.tasks import checks
from ml_assets.tasks.results import CANDIDATE, Evaluated
from ml_assets.ui_values import for_ui

if TYPE_CHECKING:
    import pandas as pd

    from ml_assets.learning.score_cache import ScoreCache
    from ml_assets.tasks.checks import CheckOutcome


def mean_pm_sd(stats: dict[str, float]) -> str:
    """`0.841 ± 0.032`: a cross-validated mean and its standard deviation."""
    return f"{stats['mean']:.3f} ± {stats['sd']:.3f}"


class EvaluationProtocols:
    """Mixed into `Task`; uses its hooks (metrics, predict_output, predictors, split, cv_splitter, report parts)."""

    def evaluate(
        self,
        model,
        data,
        partition: str | None,
        train_metric: float | None,
        model_version: str | None,
        champion: tuple[str | None, float | None],
        model_months: str | None = None,
        scores: ScoreCache | None = None,
        window_reason: str | None = None,
        jobs: int = 1,
        champion_in_sample: bool = False,
    ) -> Evaluated:
        """`champion_in_sample`: the champion learned from the month scored (a re-run of an earlier month), so its
        row measures its fit there, not its skill, and says so."""
        if self.monthly:
            return self.evaluate_next_month(
                model,
                data,
                partition,
                train_metric,
                model_version,
                champion,
                model_months,
                window_reason,
                champion_in_sample,
            )
        return self.evaluate_cross_validated(model, data, model_version, champion, cache=scores, jobs=jobs)

    def _judge(self, where: str | None, scores: dict[str, float]) -> list[CheckOutcome]:
        """The blocking evaluation checks on the model's primary metric against the threshold and every baseline."""
        metric, model = self.primary_metric, scores[CANDIDATE]

        def better(a, b, strictly=True):
            if self.higher_is_better:
                return a > b if strictly else a >= b
            return a < b if strictly else a <= b

        results = []
        if self.threshold is not None:
            ok = model >= self.threshold if self.higher_is_better else model <= self.threshold
            results.append(
                checks.outcome(
                    self.threshold_check,
                    where,
                    ok,
                    **{metric: float(model), self.threshold_setting: float(self.threshold)},
                )
            )
        trivial = scores[self.trivial_key]
        results.append(
            checks.outcome(
                f"beats_{self.trivial_key}",
                where,
                better(model, trivial),
                **{metric: float(model), f"{self.trivial_key}_{metric}": float(trivial)},
            )
        )
        for b in self.baselines:
            if b.check_name:
                ok = better(model, scores[b.key], strictly=b.check == "beats")
                results.append(
                    checks.outcome(
                        b.check_name,
                        where,
                        ok,
                        **{metric: float(model), f"{b.key}_{metric}": float(scores[b.key])},
                    )
                )
        return results

    def evaluate_next_month(
        self,
        model,
        pair: dict[str, pd.DataFrame],
        month: str,
        train_metric,
        model_version,
        champion,
        model_months: str | None = None,
        window_reason: str | None = None,
        champion_in_sample: bool = False,
    ) -> Evaluated:
        """`model_months`: the months the model learned from when its training window holds more than one;
        `window_reason`: why that window, when the backtest chose it (`training_window: backtest`)."""
        train_month, valid_month = sorted(pair)
        train, valid = pair[train_month], pair[valid_month]
        if valid.empty:
            raise ValueError(f"month {valid_month} has no rows to evaluate on")
        X_train, y_train = self.xy(train)
        X_valid, y_valid = self.xy(valid)
        # every class the model knows, not only those of the two months: a class dropped from the probabilities
        # before the arg-max turns the model's vote into another class's
        classes = self.classes_for(model, y_train, y_valid)
        outputs = {CANDIDATE: self.predict_output(model, X_valid, classes)}
        for key, predictor in self.predictors(train).items():
            if key != CANDIDATE:
                outputs[key] = self.predict_output(predictor.fit(X_train, y_train), X_valid, classes)
        metrics = {key: self.metrics(y_valid, output, classes) for key, output in outputs.items()}
        champion_version, champion_score = champion
        scores = {k: m[self.primary_metric] for k, m in metrics.items()}
        check_results = self._judge(valid_month, scores)
        names = self.predictor_names()
        if model_version:
            names[CANDIDATE] = f"model version {model_version} ({self.estimator.kind})"
        rows = [(names[k], m) for k, m in metrics.items()]
        if champion_score is not None:
            learned = f", which learned from {valid_month}: in sample" if champion_in_sample else ""
            rows.insert(
                1,
                (
                    f"current champion (version {champion_version}{learned})",
                    {self.primary_metric: champion_score},
                ),
            )
        table = self.metrics_table(rows)
        comparison = self.comparison_sentence(scores)
        trained = (
            f"The model learned from **{model_months}** (its training window); every baseline is fitted on "
            f"**{train_month}** "
            f"({len(train):,} rows) alone. Scored on **{valid_month}** ({len(valid):,} rows)."
            if model_months and model_months != train_month
            else f"Trained on **{train_month}** ({len(train):,} rows), scored on **{valid_month}** "
            f"({len(valid):,} rows): train on "
            f"one month, score on the next. Every baseline is fitted on {train_month} too."
        ) + (
            f" Its window was chosen by the walk-forward backtest on the months before {train_month}: {window_reason}."
            if window_reason
            else ""
        )
        encoding = self.encoding_used(train)
        if encoding:
            trained += f" Categorical inputs: {encoding}."
        diagnostics = self.diagnostics(model, X_valid, y_valid, outputs[CANDIDATE], valid_month)
        markdown = (
            f"# {self.name}: evaluation for {valid_month}\n\n{trained}\n\n{table}\n\n{comparison}\n"
            + (f"(training {self.primary_metric} {train_metric:.3f})\n" if train_metric is not None else "")
            + self.extra_markdown(y_valid, outputs[CANDIDATE], classes, f"{valid_month}'s rows")
            + diagnostics.markdown
        )
        png = self.plot_png(
            y_valid,
            outputs[CANDIDATE],
            classes,
            None,
            f"{self.name}: trained {train_month}, scored {valid_month}",
            diagnostics.bars,
        )
        model_metrics = metrics[CANDIDATE]
        report = {
            "pipeline": self.name,
            "task": self.kind,
            "partition": month,
            "protocol": "next month",
            "train_month": train_month,
            "valid_month": valid_month,
            "train_rows": len(train),
            "valid_rows": len(valid),
            "model_training_months": model_months or train_month,
            "model_training_window_reason": window_reason,
            "categorical_encoding": encoding,
            "metrics": metrics,
            "primary_metric": self.primary_metric,
            "score": scores[CANDIDATE],
            "baselines": {k: v for k, v in scores.items() if k != CANDIDATE},
            "baseline_names": {k: n for k, n in names.items() if k != CANDIDATE},
            "model_version": model_version,
            "champion_version": champion_version,
            f"champion_{self.primary_metric}": champion_score,
            "checks": {r.check_name: r.passed for r in check_results},
            **{m: v for m, v in model_metrics.items()},
        }
        ui = {
            **{m: for_ui(v) for m, v in model_metrics.items() if v == v},
            **{f"{k}_{self.primary_metric}": for_ui(v) for k, v in scores.items() if k != CANDIDATE},
            f"champion_{self.primary_metric}": for_ui(champion_score)
            if champion_score is not None
            else "no champion yet",
            "train_month": train_month,
            "valid_rows": len(valid),
            **{name: for_ui(value) for name, value in diagnostics.figures.items()},
        }
        logged = {f"val_{m}": v for m, v in model_metrics.items() if v == v}
        logged |= {f"val_{k}_{self.primary_metric}": v for k, v in scores.items() if k != CANDIDATE}
        return Evaluated(report, markdown, png, scores[CANDIDATE], logged, ui, check_results)

    def cv_splitter(self, repeats: int):
        raise NotImplementedError

    def search_note(self) -> str:
        search = self.estimator.search
        if search is None:
            return ""
        return (
            f"Nested: inside each outer fold, the model's {', '.join(search.space)} were chosen by a random search "
            f"({search.iterations} candidates x {search.folds} inner folds) on that fold's training rows alone, so no "
            "figure below was scored on rows that chose them.\n\n"
        )

    def evaluate_cross_validated(
        self,
        model,
        features: pd.DataFrame,
        model_version,
        champion,
        cache: ScoreCache | None = None,
        jobs: int = 1,
    ) -> Evaluated:
        """`jobs`: processes that fit the folds when `evaluation.cv_jobs` is unset."""
        import numpy as np
        from joblib import Parallel, delayed

        from ml_assets.learning.score_cache import ScoreCache, cache_key, frame_fingerprint

        X, y = self.xy(features)
        classes = self.classes_for(model, y)
        encoding = self.encoding_used(features)
        predictors = self.predictors(features)
        spec = self.evaluation

        sample = self.cv_rows(y)
        X_cv, y_cv = (X, y) if sample is None else (X.iloc[sample], y[sample])
        repeats = spec.repeats_for(len(y_cv))

        def cross_validate() -> list[dict[str, dict[str, float]]]:
            splits = list(self.cv_splitter(repeats).split(X_cv, y_cv))
            n_jobs = spec.cv_jobs or jobs
            try:
                return Parallel(n_jobs=n_jobs)(
                    delayed(_fold_metrics)(
                        self, predictors, X_cv, y_cv, train, test, classes, validate=i == 0
                    )
                    for i, (train, test) in enumerate(splits)
                )
            finally:
                if n_jobs != 1:
                    _end_fold_workers()

        # the folds' scores depend only on the rows and what is declared (the search space included): computed once
        cache = cache or ScoreCache(None)
        hits = cache.hits
        per_fold = cache.remember(
            "cross_validation",
            cache_key("cross_validation", self.declared(), frame_fingerprint(features)),
            cross_validate,
        )
        reused = cache.hits > hits
        scores: dict[str, dict[str, list[float]]] = {
            k: {m: [] for m in self.metric_names} for k in predictors
        }
        for fold in per_fold:
            for key, values in fold.items():
                for metric, value in values.items():
                    scores[key][metric].append(value)
        summary = {
            k: {
                m: {"mean": float(np.nanmean(v)), "sd": float(np.nanstd(v, ddof=1)) if len(v) > 1 else 0.0}
                for m, v in ms.items()
            }
            for k, ms in scores.items()
        }
        reference = next(
            (b.key for b in self.baselines if b.check_name),
            self.baselines[0].key if self.baselines else self.trivial_key,
        )
        paired = _paired(
            scores[CANDIDATE][self.primary_metric],
            scores[reference][self.primary_metric],
            self.higher_is_better,
        )
        cv_scores = {k: s[self.primary_metric]["mean"] for k, s in summary.items()}
        check_results = self._judge(None, cv_scores)
        # the registered model (fitted on the training split) and the baselines on the held-out rows
        train, test = self.split(y)
        holdout = {
            CANDIDATE: self.metrics(y[test], self.predict_output(model, X.iloc[test], classes), classes)
        }
        for key, predictor in predictors.items():
            if key != CANDIDATE:
                fitted = predictor.fit(X.iloc[train], y[train])
                holdout[key] = self.metrics(
                    y[test], self.predict_output(fitted, X.iloc[test], classes), classes
                )
        champion_version, champion_score = champion
        names = self.predictor_names()
        if model_version:
            names[CANDIDATE] = f"model ({self.estimator.kind}, version {model_version})"
        header = (
            "| predictor | " + " | ".join(self.metric_names) + " |\n|---|" + "---:|" * len(self.metric_names)
        )
        cv_rows = "\n".join(
            f"| {names[k]} | " + " | ".join(mean_pm_sd(s[m]) for m in self.metric_names) + " |"
            for k, s in summary.items()
        )
        holdout_rows = [(names[k], m) for k, m in holdout.items()]
        if champion_score is not None:
            holdout_rows.insert(
                1, (f"current champion (version {champion_version})", {self.primary_metric: champion_score})
            )
        folds = spec.cv_folds * repeats
        gain = paired["mean"]
        better_word = "better" if (gain >= 0) else "WORSE"
        verdict = (
            f"On the same {folds} folds the model's {self.primary_metric} is **{abs(gain):.3f} "
            f"{better_word}** than the "
            f"{names[reference]}'s (paired difference {gain:+.3f} ± {paired['sd']:.3f}; {paired['wins']} folds won, "
            f"{paired['ties']} tied, {paired['losses']} lost)."
        )
        test_output = self.predict_output(model, X.iloc[test], classes)
        diagnostics = self.diagnostics(model, X.iloc[test], y[test], test_output, "the held-out rows")
        markdown = (
            f"# {self.name}: {self.kind} report\n\n{len(y):,} rows{self.rows_note(y)}."
            + (f" Categorical inputs: {encoding}." if encoding else "")
            + "\n\n"
            f"## Cross-validation: {spec.cv_folds} folds x {repeats} repeat{'s' if repeats > 1 else ''}"
            + (
                " (`evaluation.cv_repeats` unset: as many as keep rows x repeats within `cv_max_rows` or its default)"
                if spec.cv_repeats is None
                else ""
            )
            + ", the same folds for "
            "every predictor\n\n"
            + (
                f"On a sample of {len(y_cv):,} of the {len(y):,} rows (`evaluation.cv_max_rows`, seeded by "
                "`evaluation.random_state`); the held-out split below holds rows of the whole table.\n\n"
                if sample is not None
                else ""
            )
            + self.search_note()
            + (
                "The fold scores are reused: these rows were cross-validated before with the same declared "
                "model, search "
                "space and library versions.\n\n"
                if reused
                else ""
            )
            + f"{header}\n{cv_rows}\n\n{verdict}\n\n"
            f"## Held-out split ({len(test)} rows): the registered model\n\n{self.metrics_table(holdout_rows)}\n\n"
            + self.extra_markdown(y[test], test_output, classes, "the held-out rows")
            + diagnostics.markdown
        )
        png = self.plot_png(
            y[test],
            test_output,
            classes,
            {k: v[self.primary_metric] for k, v in scores.items()},
            f"{self.name}: {len(y)} rows",
            diagnostics.bars,
        )
        model_cv = summary[CANDIDATE]
        report = {
            "pipeline": self.name,
            "task": self.kind,
            "partition": None,
            "protocol": "cross-validation",
            "rows": len(y),
            "classes": self.labels(classes) if classes is not None else None,
            "categorical_encoding": encoding,
            "cv": {
                "folds": spec.cv_folds,
                "repeats": repeats,
                "rows": len(y_cv),
                "sampled": sample is not None,
                "reused": reused,
                "summary": summary,
                "paired": {"against": reference, **paired},
            },
            "holdout": {
                "rows": len(test),
                "metrics": holdout,
                **self.holdout_extras(y[test], test_output, classes),
            },
            "primary_metric": self.primary_metric,
            "score": holdout[CANDIDATE][self.primary_metric],
            "baseline_names": {k: n for k, n in names.items() if k != CANDIDATE},
            "model_version": model_version,
            "champion_version": champion_version,
            f"champion_{self.primary_metric}": champion_score,
            "checks": {r.check_name: r.passed for r in check_results},
        }
        ui = {
            **{f"cv_{m}_mean": for_ui(v["mean"]) for m, v in model_cv.items() if v["mean"] == v["mean"]},
            f"cv_{self.primary_metric}_sd": for_ui(model_cv[self.primary_metric]["sd"]),
            **{
                f"{k}_cv_{self.primary_metric}": for_ui(s[self.primary_metric]["mean"])
                for k, s in summary.items()
                if k != CANDIDATE
            },
            f"{self.primary_metric}_gain_over_{reference}": for_ui(gain),
            f"holdout_{self.primary_metric}": for_ui(holdout[CANDIDATE][self.primary_metric]),
            "holdout_rows": len(test),
            "cv_rows": len(y_cv),
            "cv_scores": "reused (same rows, same declared model)" if reused else "computed",
            **{name: for_ui(value) for name, value in diagnostics.figures.items()},
            f"champion_{self.primary_metric}": for_ui(champion_score)
            if champion_score is not None
            else "no champion yet",
        }
        logged = {f"cv_{m}_mean": v["mean"] for m, v in model_cv.items() if v["mean"] == v["mean"]}
        logged |= {f"cv_{m}_sd": v["sd"] for m, v in model_cv.items() if v["sd"] == v["sd"]}
        logged |= {f"holdout_{m}": v for m, v in holdout[CANDIDATE].items() if v == v}
        logged |= {
            f"{k}_cv_{self.primary_metric}_mean": s[self.primary_metric]["mean"]
            for k, s in summary.items()
            if k != CANDIDATE
        }
        return Evaluated(
            report, markdown, png, holdout[CANDIDATE][self.primary_metric], logged, ui, check_results
        )


def _end_fold_workers() -> None:
    """joblib keeps its worker processes for 300 s after a parallel call, and a process started by multiprocessing
    (a step under Dagster's multiprocess executor) waits for them as it exits: the step's process would outlive its
    work by five minutes, holding one of the run's concurrent slots. End them now."""
    from joblib.externals.loky import get_reusable_executor

    get_reusable_executor().shutdown(wait=True)


def _fold_metrics(
    task, predictors: dict, X, y, train, test, classes, validate: bool = True
) -> dict[str, dict[str, float]]:
    """Every predictor fitted on the fold's training rows and scored on its test rows. `validate` False skips
    scikit-learn's checks of the estimators' and metrics' parameters (an eighth of a small table's fit): for the folds
    after the first, which fits and scores the same estimators with the same parameters and checks them."""
    from sklearn import config_context
    from sklearn.base import clone

    out = {}
    with config_context(skip_parameter_validation=not validate):
        for key, predictor in predictors.items():
            fitted = clone(predictor).fit(X.iloc[train], y[train])
            out[key] = task.metrics(y[test], task.predict_output(fitted, X.iloc[test], classes), classes)
    return out


def _paired(model: list[float], other: list[float], higher_is_better: bool) -> dict[str, float]:
    """Fold-by-fold difference, signed so that positive means the model is better."""
    import numpy as np

    diff = np.asarray(model) - np.asarray(other)
    if not higher_is_better:
        diff = -diff
    return {
        "mean": float(diff.mean()),
        "sd": float(diff.std(ddof=1)) if len(diff) > 1 else 0.0,
        "wins": int((diff > 0).sum()),
        "ties": int((diff == 0).sum()),
        "losses": int((diff < 0).sum()),
    }
