"""Bundled datasets and their splits, loaded once per session (tests must not mutate them)."""

from __future__ import annotations

import pandas as pd
import pytest

from suiro.ml import Split, load_dataset, split


@pytest.fixture(scope="session")
def cancer() -> pd.DataFrame:
    return load_dataset("sklearn:breast_cancer")


@pytest.fixture(scope="session")
def cancer_split(cancer: pd.DataFrame) -> Split:
    return split(cancer, seed=0)


@pytest.fixture(scope="session")
def diabetes_split() -> Split:
    return split(load_dataset("sklearn:diabetes"), seed=0)


@pytest.fixture(scope="session")
def wine_split() -> Split:
    return split(load_dataset("sklearn:wine"), seed=0)
