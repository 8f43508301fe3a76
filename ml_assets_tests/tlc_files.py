"""The real TLC green-taxi files the tests read, pinned by sha256 (../shared/data/tlc/PROVENANCE.md tells where each
came from), and where a test run finds them:

1. `ML_ASSETS_TLC_DIR`, when set;
2. `../shared/data/tlc` beside the checkout, when present (a local mirror);
3. else a cache (`ML_ASSETS_CACHE_DIR`, default `~/.cache/ml_assets/tlc`), filled by downloading each missing file
   from the TLC's CDN or, failing that, the public repository that committed the same bytes, and keeping it only if
   its sha256 matches.

With none of them (offline, no mirror), the tests that need the files skip, saying why; `ML_ASSETS_REQUIRE_DATA=1`
(set by `.ci/run`) makes that a failure instead. The files are never committed here.
"""

from __future__ import annotations

import hashlib
import os
from pathlib import Path

REPO_ROOT = Path(__file__).resolve().parents[1]
CDN = "https://d37ci6vzurychx.cloudfront.net/trip-data"
RAW = "https://raw.githubusercontent.com"

# name -> (sha256, the repository copy: owner/name, commit, path)
PINNED: dict[str, tuple[str, str]] = {
    "green_tripdata_2021-01.parquet": (
        "b8e2c9496c5eada0f10adbd88f98d91721ec6fe2787a2b355cf0ccfa9678ee7b",
        "surawut-jirasaktavee/course-mlops-zoomcamp/bc300b72e6b5fa6803eee02102fd90d5e7e12703/01-intro/data/green_tripdata_2021-01.parquet",
    ),
    "green_tripdata_2021-02.parquet": (
        "fd43c7afa2002716c8afadfd57665ab9c9ad99be419570a9b0a08de15cbeb64e",
        "surawut-jirasaktavee/course-mlops-zoomcamp/bc300b72e6b5fa6803eee02102fd90d5e7e12703/01-intro/data/green_tripdata_2021-02.parquet",
    ),
    "green_tripdata_2021-03.parquet": (
        "78847a2e0ccb58202eef3337903e696317656815f50423733ad3099dabc58a9d",
        "surawut-jirasaktavee/course-mlops-zoomcamp/86dddc220ad19a653e90c8089c6601170dc9ea9f/02-experiment-tracking/data/green_tripdata_2021-03.parquet",
    ),
    "green_tripdata_2022-01.parquet": (
        "6a9efa68165ed2c52ec130cc9d8098b9e8a876f4316c17ddcbc170e46c45ad1d",
        "ruqianq/mlops-zoomcamp-2024/2ba3fffab60efdd781231b9fee44e52158c9233f/05-monitoring/data/green_tripdata_2022-01.parquet",
    ),
    "green_tripdata_2022-02.parquet": (
        "4e2fb2eb988955311e2110475eb32308ed2b2a1d601dca73965f3adf731245c4",
        "ruqianq/mlops-zoomcamp-2024/2ba3fffab60efdd781231b9fee44e52158c9233f/05-monitoring/data/green_tripdata_2022-02.parquet",
    ),
    "green_tripdata_2022-03.parquet": (
        "3911283dcf1cf9f705871aa7b5fee94ca58404a068289e1f4d4937e05ebb1af5",
        "rifrif12/MLOps-Zoomcamp-2023/dd8072b0fc1f39a4bfb2e7d866442a93c149380b/Week2/Data/green_tripdata_2022-03.parquet",
    ),
    "green_tripdata_2023-01.parquet": (
        "9f0e03dd7f8f94ecc15949cdbfd2a4e1fc9ebb41a11882215158c9fc95012e31",
        "ruqianq/mlops-zoomcamp-2024/c44ba828e40f5e3cd67dcd9e98a8453bb6cfa169/02-experienment-tracking/data/green_tripdata_2023-01.parquet",
    ),
    "green_tripdata_2023-02.parquet": (
        "bcc2821d639197cbb09aeb8994121a7004f2a6568a64bf4839015db802f62743",
        "ruqianq/mlops-zoomcamp-2024/c44ba828e40f5e3cd67dcd9e98a8453bb6cfa169/02-experienment-tracking/data/green_tripdata_2023-02.parquet",
    ),
    "green_tripdata_2023-03.parquet": (
        "69ab2c3b515ad1dd686a8ac3375370b8a44b003d95d340655d94828db0681d9d",
        "ruqianq/mlops-zoomcamp-2024/c44ba828e40f5e3cd67dcd9e98a8453bb6cfa169/02-experienment-tracking/data/green_tripdata_2023-03.parquet",
    ),
    "green_tripdata_2024-03.parquet": (
        "43dedd66dd556acfc38da679a174b6adc32e01dd6dccad14bdfdf1521a14abed",
        "ruqianq/mlops-zoomcamp-2024/2ba3fffab60efdd781231b9fee44e52158c9233f/05-monitoring/data/green_tripdata_2024-03.parquet",
    ),
}


class DataUnavailableError(Exception):
    """The pinned files are neither in a mirror nor downloadable here; the message says what was tried."""


def sha256_of(path: Path) -> str:
    return hashlib.sha256(path.read_bytes()).hexdigest()


def holds_every_file(folder: Path) -> bool:
    return all((folder / name).is_file() for name in PINNED)


def mirror() -> Path | None:
    """The folder named by ML_ASSETS_TLC_DIR, else ../shared/data/tlc, if it holds every pinned file."""
    named = os.environ.get("ML_ASSETS_TLC_DIR")
    if named:
        return Path(named) if holds_every_file(Path(named)) else None
    shared = Path(os.environ.get("ML_ASSETS_SHARED_DIR", REPO_ROOT.parent / "shared")) / "data" / "tlc"
    return shared if holds_every_file(shared) else None


def cache_dir() -> Path:
    return Path(os.environ.get("ML_ASSETS_CACHE_DIR", Path.home() / ".cache" / "ml_assets")) / "tlc"


def fetch(name: str, folder: Path, urls: list[str], timeout_s: float = 60.0) -> None:
    """One pinned file into `folder`, from the first URL whose bytes have its sha256; written whole or not at all."""
    import requests

    wanted, tried = PINNED[name][0], []
    for url in urls:
        try:
            response = requests.get(url, timeout=timeout_s)
            response.raise_for_status()
        except requests.RequestException as exc:
            tried.append(f"{url}: {type(exc).__name__}")
            continue
        got = hashlib.sha256(response.content).hexdigest()
        if got != wanted:
            tried.append(f"{url}: sha256 {got[:12]}..., not the pinned {wanted[:12]}...")
            continue
        partial = folder / f".{name}.partial"
        partial.write_bytes(response.content)
        partial.replace(folder / name)
        return
    raise DataUnavailableError(f"{name}: " + "; ".join(tried))


def tlc_folder() -> Path:
    """A folder holding every pinned TLC file: a mirror, or the download cache (filled as needed)."""
    found = mirror()
    if found is not None:
        return found
    folder = cache_dir()
    folder.mkdir(parents=True, exist_ok=True)
    for name, (sha256, copy) in PINNED.items():
        path = folder / name
        if path.is_file() and sha256_of(path) == sha256:
            continue
        fetch(name, folder, [f"{CDN}/{name}", f"{RAW}/{copy}"])
    return folder
