"""What a report says beyond its figures: the model card's limitations, the metrics table and comparison sentence,
and the hooks each kind fills (its labels, diagnostics, extra Markdown, its plot)."""

from __future__ import annotations

import base64

from ml_assets.tasks.results import CANDIDATE, Diagnostics


def embedded_png(markdown: str, png: bytes, caption: str) -> str:
    return markdown + f"\n![{caption}](data:image/png;base64,{base64.b64encode(png).decode()})\n"


class ReportParts:
    """Mixed into `Task`: the report's task-specific parts."""

    def limitations(self, trained_on: str | None) -> list[str]:
        if self.monthly:
            return [
                f"Learned from {trained_on if ' ' in str(trained_on) else f'one month ({trained_on})'}; "
                "the drift checks of "
                "`predictions` compare every later month with it, "
                "and `backtest_report` shows how fast such a model decays.",
                "Categories it never saw (new routes, zones, labels) are encoded as unknown: their "
                "predictions fall back on the other inputs.",
            ]
        return [
            f"Learned from {1 - self.evaluation.holdout_share:.0%} of one table; the held-out rest and "
            "cross-validation on "
            "the same table measure it, not a different population or a later time.",
            "The cross-validated standard deviation in the evaluation report is the honest error bar.",
        ]

    # ---- the report's task-specific parts --------------------------------------------------------------------
    def metrics_table(self, rows: list[tuple[str, dict[str, float]]]) -> str:
        header = (
            "| predictor | " + " | ".join(self.metric_names) + " |\n|---|" + "---:|" * len(self.metric_names)
        )
        lines = [
            f"| {name} | "
            + " | ".join(f"{m[k]:.3f}" if k in m and m[k] == m[k] else "" for k in self.metric_names)
            + " |"
            for name, m in rows
        ]
        return "\n".join([header, *lines])

    def comparison_sentence(self, scores: dict[str, float]) -> str:
        metric, model = self.primary_metric, scores[CANDIDATE]
        parts = []
        for key, value in scores.items():
            if key == CANDIDATE or not value:
                continue
            change = 100.0 * (model / value - 1.0)
            good = (change >= 0) == self.higher_is_better
            parts.append(
                f"{abs(change):.1f}% {'better' if good else 'WORSE'} than the {self.predictor_names()[key]}"
            )
        return f"The model's {metric} is " + "; ".join(parts) + " on the same rows." if parts else ""

    def rows_note(self, y) -> str:
        return ""

    def labels(self, classes) -> list[str]:
        return []

    def holdout_extras(self, y_true, output, classes) -> dict:
        return {}

    def extra_markdown(self, y_true, output, classes, rows: str) -> str:
        return ""

    def diagnostics(self, model, X, y, output, month: str) -> Diagnostics:
        """What a data scientist looks at after the headline figure (the kind adds its own)."""
        return Diagnostics()

    def plot_png(
        self,
        y_true,
        output,
        classes,
        per_fold: dict[str, list[float]] | None,
        title: str,
        bars: list | None = None,
    ) -> bytes:
        raise NotImplementedError
