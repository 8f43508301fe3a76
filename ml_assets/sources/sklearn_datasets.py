"""`kind: sklearn`: every data set scikit-learn ships on disk (no download): one table, features plus `target`."""

from __future__ import annotations

from dataclasses import dataclass
from typing import TYPE_CHECKING, Literal

from pydantic import Field

from ml_assets.sources.base import DataSource, SourceSpecBase

if TYPE_CHECKING:  # imported where used: the code location loads without them
    import pandas as pd

# dataset -> loader keyword arguments (diabetes: the measurements as recorded, not mean-centred and scaled)
OFFLINE_DATASETS: dict[str, dict] = {
    "iris": {},
    "wine": {},
    "breast_cancer": {},
    "diabetes": {"scaled": False},
    "digits": {},
    "linnerud": {},
}


class SklearnSpec(SourceSpecBase):
    """`kind: sklearn`: a data set bundled with scikit-learn."""

    kind: Literal["sklearn"] = Field(description="A data set bundled with scikit-learn (offline).")
    dataset: Literal["iris", "wine", "breast_cancer", "diabetes", "digits", "linnerud"] = Field(
        description="iris, wine, breast_cancer, digits (classification; column `target`), diabetes "
        "(regression; `target`), "
        "linnerud (three targets: Weight, Waist, Pulse)."
    )

    def build(self) -> DataSource:
        return SklearnSource(self.dataset)


def load_sklearn_dataset(dataset: str) -> pd.DataFrame:
    import sklearn.datasets

    loader = getattr(sklearn.datasets, f"load_{dataset}")
    return loader(as_frame=True, **OFFLINE_DATASETS[dataset]).frame


@dataclass(frozen=True)
class SklearnSource(DataSource):
    dataset: str

    @property
    def label(self) -> str:  # type: ignore[override]
        return f"scikit-learn {self.dataset}"

    def location(self, partition: str | None) -> str:
        return f"sklearn.datasets.load_{self.dataset}"

    def fingerprint(self, partition: str | None) -> str | None:
        from importlib.metadata import version

        return f"scikit-learn=={version('scikit-learn')}:{self.dataset}"  # the data changes only with the package

    def load(self, partition: str | None, cache_dir: str) -> tuple[pd.DataFrame, str]:
        return load_sklearn_dataset(self.dataset), self.location(partition)
