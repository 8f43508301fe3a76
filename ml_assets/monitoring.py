"""Model monitoring as pure functions (pandas, SciPy, no Dagster): how far a month has drifted
from a model's training data, the walk-forward backtest of retraining policies, and model cards.

Drift is an effect size, not a test: with 20,000+ trips a month, a KS test calls every month
"different" (p < 1e-10 even between two Tuesdays), so the thresholds in a pipeline's YAML apply to
the statistic itself, which is in [0, 1] for every column:
- numeric columns: the two-sample Kolmogorov-Smirnov statistic (largest gap between the CDFs);
- categorical columns: the total variation distance between the category shares
  (half the summed absolute differences; a category unseen in training counts fully).
"""

from __future__ import annotations

from collections.abc import Callable, Sequence
from dataclasses import dataclass
from typing import TYPE_CHECKING, Any

from ml_assets.months import month_span

if TYPE_CHECKING:
    import numpy as np
    import pandas as pd

KS, TVD = "ks", "tvd"


def ks_statistic(reference: np.ndarray, current: np.ndarray) -> float:
    """The two-sample Kolmogorov-Smirnov statistic, the largest gap between the two empirical distribution functions:
    what `scipy.stats.ks_2samp(...).statistic` is (property-tested), without the p-value it also computes, which drift
    does not use and which took most of its time."""
    import numpy as np

    reference, current = np.sort(reference), np.sort(current)
    both = np.concatenate([reference, current])
    gaps = np.searchsorted(reference, both, side="right") / len(reference) - np.searchsorted(
        current, both, side="right"
    ) / len(current)
    return float(np.max(np.abs(gaps)))


def column_drift(reference: pd.Series, current: pd.Series) -> tuple[str, float]:
    """(statistic, value) between one column of the training data and the same column of a month."""
    import pandas as pd

    reference, current = reference.dropna(), current.dropna()
    if len(reference) == 0 or len(current) == 0:
        raise ValueError(
            f"column {reference.name!r} has no values to compare ({len(reference)} reference, {len(current)} current)"
        )
    if pd.api.types.is_numeric_dtype(reference) and pd.api.types.is_numeric_dtype(current):
        return KS, ks_statistic(reference.to_numpy("float64"), current.to_numpy("float64"))
    shares = pd.concat(
        [
            reference.astype(str).value_counts(normalize=True),
            current.astype(str).value_counts(normalize=True),
        ],
        axis=1,
    ).fillna(0.0)
    return TVD, float(0.5 * (shares.iloc[:, 0] - shares.iloc[:, 1]).abs().sum())


@dataclass(frozen=True)
class Drift:
    column: str
    statistic: str  # ks or tvd
    value: float
    threshold: float

    @property
    def drifted(self) -> bool:
        return self.value > self.threshold


def drift_of(
    reference: pd.DataFrame, current: pd.DataFrame, columns: Sequence[str], threshold: float
) -> list[Drift]:
    """Each column's drift, largest first. A column missing from either frame is an error naming it."""
    missing = [c for c in columns if c not in reference.columns or c not in current.columns]
    if missing:
        raise ValueError(
            f"cannot compare drift: columns {missing} are missing from the training data or the month"
        )
    found = [Drift(c, *column_drift(reference[c], current[c]), threshold) for c in columns]
    return sorted(found, key=lambda d: d.value, reverse=True)


def drift_markdown(drifts: list[Drift], what: str) -> str:
    rows = "\n".join(
        f"| {d.column} | {d.statistic} | {d.value:.3f} | {d.threshold:.3f} | {'**drifted**' if d.drifted else 'ok'} |"
        for d in drifts
    )
    return f"{what}\n\n| column | statistic | value | threshold | |\n|---|---|---:|---:|---|\n{rows}\n"


# ---- walk-forward backtest ------------------------------------------------------------------

KEEP_CHAMPION, COURSE_BASELINE = "keep the champion", "course baseline"
NEVER_RETRAIN = "never retrain (the first month's model)"


def window_policy(k: int) -> str:
    return "retrain monthly on the last month" if k == 1 else f"retrain monthly on the last {k} months"


@dataclass(frozen=True)
class BacktestRow:
    month: str
    policy: str
    score: float
    trained_on: str  # the months the model learned from, or the champion version


def stored_window(stored, last: str, k: int) -> list[str]:
    """The model of month `last` with a k-month window trains on the k calendar months ending with `last` that are
    stored (fewer on a source with gaps). One definition for the pipeline's models, the window choice and the
    backtest, so a window the backtest scored is the window a model trains on."""
    from ml_assets.months import window_ending

    return [m for m in window_ending(last, k) if m in stored]


def walk_forward(
    months: Sequence[str],
    windows: Sequence[int],
    score_window: Callable[[list[str], str], float],
    score_baseline: Callable[[str, str], float | None],
    score_champion: Callable[[str], tuple[str, float] | None],
    baseline_label: str = COURSE_BASELINE,
) -> list[BacktestRow]:
    """For every month t after the first: the score on t of a model trained on each window of the
    last k months before t (where k months exist), the first declared baseline trained on t-1, and the
    champion as it stood when t arrived (`score_champion(t)` is None before there was one).

    `months` are the months that have data, in order; "t-1" is the previous one of them (a
    source with gaps trains on the newest month it has), and a k-month window is that month's `stored_window`.
    """
    months = sorted(months)
    rows: list[BacktestRow] = []
    for at, month in enumerate(months):
        if at == 0:
            continue
        for k in windows:
            if at >= k:
                window = stored_window(months, months[at - 1], k)
                rows.append(
                    BacktestRow(month, window_policy(k), score_window(window, month), month_span(window))
                )
        baseline = score_baseline(months[at - 1], month)
        if baseline is not None:  # the pipeline's first declared baseline, if it declares one
            rows.append(BacktestRow(month, baseline_label, baseline, months[at - 1]))
        champion = score_champion(month)
        if champion is not None:
            version, score = champion
            rows.append(BacktestRow(month, KEEP_CHAMPION, score, f"version {version}"))
    return rows


def gate_checks_passed(gate: dict) -> bool:
    """Whether a stored gate's candidate passed its blocking checks (a gate stored before `checks_passed` was recorded
    says so in its reason)."""
    if "checks_passed" in gate:
        return bool(gate["checks_passed"])
    return "failed a blocking check" not in str(gate.get("reason", ""))


def replay_champion(
    months: Sequence[str],
    gates: dict[str, dict],
    score: Callable[[str, str], float],
    promotes: Callable[[str, float, bool, str | None, float | None], bool],
) -> dict[str, tuple[str, float]]:
    """The "keep the champion" policy of a walk-forward: for each month, the champion as the gates would have left it
    when the month arrived, and its score on the month (`score(version, month)`).

    Replayed from no champion, month by month: each month's gate (its candidate, its score and its checks as the gate
    stored them) faces the standing champion's score on that month, and `promotes(candidate, candidate_score,
    checks_passed, champion, champion_score)` decides. Not the alias's real history: a re-run of earlier months faced
    the model of a later month, which a walk-forward must never score on an earlier one."""
    standing: str | None = None
    at: dict[str, tuple[str, float]] = {}
    for month in sorted(months):
        standing_score = None
        if standing is not None:
            standing_score = score(standing, month)
            at[month] = (standing, standing_score)
        gate = gates.get(month) or {}
        candidate = gate.get("candidate_version")
        if candidate is None:  # nothing was evaluated on the month
            continue
        if promotes(
            str(candidate),
            float(gate["candidate_score"]),
            gate_checks_passed(gate),
            standing,
            standing_score,
        ):
            standing = str(candidate)
    return at


def policy_table(rows: list[BacktestRow]) -> tuple[list[str], list[str], dict[str, dict[str, float]]]:
    """(months, policies: the retraining windows shortest first, then the fixed ones, {policy: {month: score}})."""
    months = sorted({r.month for r in rows})
    scores: dict[str, dict[str, float]] = {}
    for r in rows:
        scores.setdefault(r.policy, {})[r.month] = r.score
    fixed = [KEEP_CHAMPION, NEVER_RETRAIN, COURSE_BASELINE]  # after the retraining windows, shortest first
    policies = sorted(
        scores, key=lambda p: (fixed.index(p) + 1000 if p in fixed else len(rows_of(rows, p)) * -1, p)
    )
    return months, policies, scores


def rows_of(rows: list[BacktestRow], policy: str) -> list[BacktestRow]:
    return [r for r in rows if r.policy == policy]


@dataclass(frozen=True)
class Verdict:
    months: list[str]  # the months every policy was scored on
    means: dict[str, float]  # each policy's mean score over those months
    winner: str | None
    sentence: str


def verdict(rows: list[BacktestRow], metric: str, higher_is_better: bool) -> Verdict:
    """Which policy wins, compared on the months every policy covers (a fair comparison), in a sentence."""
    months, policies, scores = policy_table(rows)
    common = [m for m in months if all(m in scores[p] for p in policies)]
    if not policies or not common:
        return Verdict(
            common,
            {},
            None,
            "Too few months to compare the policies: every policy needs a score on the same month.",
        )
    means = {p: sum(scores[p][m] for m in common) / len(common) for p in policies}
    ranked = sorted(policies, key=lambda p: means[p], reverse=higher_is_better)
    winner, others = ranked[0], ranked[1:]
    where = month_span(common) + f" ({len(common)} month{'s' if len(common) > 1 else ''} every policy covers)"
    versus = "; ".join(f"{p} {means[p]:.3f}" for p in others)
    sentence = (
        f"On {where}, **{winner}** wins: mean {metric.upper() if metric == 'rmse' else metric} "
        f"{means[winner]:.3f}, vs {versus}."
    )
    return Verdict(common, means, winner, sentence)


@dataclass(frozen=True)
class WindowChoice:
    """`training_window: backtest`: the window the model of a month trains on, and why."""

    window: int  # months
    judged_on: list[str]  # the months the candidate windows were compared on (all before the model's month)
    means: dict[int, float]  # each candidate's mean score on those months
    reason: str


def choose_window(
    months_before: Sequence[str],
    windows: Sequence[int],
    evidence_months: int,
    score_window: Callable[[list[str], str], float],
    higher_is_better: bool,
    metric: str,
) -> WindowChoice:
    """The retraining window the walk-forward backtest scores best on the latest `evidence_months` months of
    `months_before` (the months with data before the model's month, which never enters).

    A window is a candidate once some month before has that many months with data before it; the candidates are
    compared on the latest months where every one of them can be scored (the same months for all, as the backtest
    compares), and a tie goes to the shorter window. With no month to judge by, the shortest window is used.
    """
    months = sorted(months_before)
    shortest = min(windows)
    candidates = sorted(k for k in set(windows) if k < len(months))  # month months[k] has k months before it
    if not candidates:
        return WindowChoice(
            shortest,
            [],
            {},
            f"no month before this one can be scored yet: the shortest window, {_months(shortest)}",
        )
    longest = candidates[-1]
    judged = list(range(longest, len(months)))[-evidence_months:]
    means = {
        k: sum(score_window(stored_window(months, months[at - 1], k), months[at]) for at in judged)
        / len(judged)
        for k in candidates
    }
    best = sorted(candidates, key=lambda k: (-means[k] if higher_is_better else means[k], k))[0]
    label = metric.upper() if metric == "rmse" else metric
    where = month_span([months[at] for at in judged])
    if len(candidates) == 1:
        reason = f"the only window the months before can judge yet ({label} {means[best]:.3f} on {where})"
    else:
        others = ", ".join(f"{_months(k)} {means[k]:.3f}" for k in candidates if k != best)
        reason = f"the backtest's best on {where}: mean {label} {means[best]:.3f}, vs {others}"
    return WindowChoice(best, [months[at] for at in judged], means, reason)


def _months(k: int) -> str:
    return "1 month" if k == 1 else f"{k} months"


def after_a_gap(months: Sequence[str]) -> set[str]:
    """The months whose previous month with data is not the calendar month before them."""
    from ml_assets.months import next_month

    ordered = sorted(months)
    return {m for previous, m in zip(ordered, ordered[1:], strict=False) if next_month(previous) != m}


def backtest_markdown(rows: list[BacktestRow], found: Verdict, metric: str) -> str:
    months, policies, scores = policy_table(rows)
    gaps = after_a_gap({r.month for r in rows} | {r.trained_on for r in rows if r.policy == window_policy(1)})
    header = "| month | " + " | ".join(policies) + " |\n|---|" + "---:|" * len(policies)
    lines = [
        f"| {m}{' †' if m in gaps else ''} | "
        + " | ".join(f"{scores[p][m]:.3f}" if m in scores[p] else "–" for p in policies)
        + " |"
        for m in months
    ]
    if found.means:
        lines.append(
            f"| mean of {month_span(found.months)} | "
            + " | ".join(f"**{found.means[p]:.3f}**" for p in policies)
            + " |"
        )
    note = (
        '\n† the month before has no data: "the last month" and the windows reach back across the gap.\n'
        if gaps
        else ""
    )
    better = "higher" if metric != "rmse" else "lower"
    title = metric.upper() if metric == "rmse" else metric
    return (
        f"{found.sentence}\n\n{title} on each month t ({better} is better):\n\n"
        + "\n".join([header, *lines])
        + "\n"
        + note
    )


# ---- model cards ------------------------------------------------------------------------------


def model_card(
    name: str,
    version: str,
    pipeline: str,
    task: str,
    trained_on: str,
    rows: int,
    features: Sequence[str],
    train_metrics: dict[str, float],
    evaluation: dict[str, Any] | None = None,
    limitations: Sequence[str] = (),
) -> str:
    """A Markdown model card for one registered version: data, inputs, metrics, baselines, limitations."""
    lines = [
        f"# {name} version {version}",
        "",
        f"- **Pipeline**: `{pipeline}` ({task}), trained by ml_assets",
        f"- **Trained on**: {trained_on}, {rows:,} rows",
        f"- **Inputs**: {', '.join(features)}",
        "- **Training metrics**: " + ", ".join(f"{k} {v:.3f}" for k, v in sorted(train_metrics.items())),
    ]
    if evaluation:
        lines += ["", "## Evaluation", ""]
        lines += [
            f"- **{k}**: {v:.3f}" if isinstance(v, float) else f"- **{k}**: {v}"
            for k, v in evaluation.items()
        ]
    if limitations:
        lines += ["", "## Limitations", "", *[f"- {item}" for item in limitations]]
    return "\n".join(lines) + "\n"
