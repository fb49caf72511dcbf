"""pick_best and quality_gate: metric direction, champion comparison, reasons, and errors."""

from __future__ import annotations

import pytest

from suiro.errors import ParameterError, UnknownMetricError
from suiro.ml import (
    Candidate,
    Evaluation,
    GateDecision,
    TrainedModel,
    evaluate,
    pick_best,
    quality_gate,
    train,
)


def _trained(name: str) -> TrainedModel:
    """A record standing for a model; selection never calls its pipeline."""
    return TrainedModel(name, "classification", None, {}, ["x"], {"x": "float64"}, "target", [0, 1])  # type: ignore[arg-type]


def _evaluation(name: str, **metrics: float) -> Evaluation:
    return Evaluation(name, "classification", metrics)


def _candidate(metric: str, value: float) -> Candidate:
    return Candidate("m", _trained("m"), _evaluation("m", **{metric: value}), metric, value)


def test_pick_best_takes_the_highest_roc_auc_of_real_models(cancer_split):
    trained = [
        train(cancer_split, "logistic_regression"),
        train(cancer_split, "random_forest", {"n_estimators": 5}),
    ]
    evaluations = [evaluate(t, cancer_split) for t in trained]
    best = pick_best(evaluations, trained)
    top = max(evaluations, key=lambda e: e.metrics["roc_auc"])
    assert best.model == top.model
    assert best.trained is trained[evaluations.index(top)]
    assert best.evaluation is top
    assert (best.metric, best.value) == ("roc_auc", top.metrics["roc_auc"])


def test_pick_best_takes_the_lowest_rmse():
    evaluations = [
        _evaluation("a", rmse=3.0, r2=0.5),
        _evaluation("b", rmse=2.0, r2=0.4),
        _evaluation("c", rmse=2.5, r2=0.9),
    ]
    trained = [_trained(e.model) for e in evaluations]
    assert pick_best(evaluations, trained, metric="rmse").model == "b"
    assert pick_best(evaluations, trained, metric="r2").model == "c"


def test_ties_keep_the_first():
    evaluations = [_evaluation("a", f1=0.9), _evaluation("b", f1=0.9)]
    assert pick_best(evaluations, [_trained("a"), _trained("b")], metric="f1").model == "a"


def test_unknown_metric_lists_the_available_ones():
    evaluations = [
        _evaluation("a", accuracy=0.9, f1=0.8),
        _evaluation("b", accuracy=0.8, f1=0.7, roc_auc=0.9),
    ]
    with pytest.raises(
        UnknownMetricError,
        match=r"^pick_best: metric 'roc_auc' was not computed for every model; choose one of accuracy, f1\.$",
    ):
        pick_best(evaluations, [_trained("a"), _trained("b")])
    with pytest.raises(UnknownMetricError, match=r"metric 'acuracy' \(did you mean \"accuracy\"\?\)") as err:
        pick_best(evaluations, [_trained("a"), _trained("b")], metric="acuracy")
    assert err.value.available == ["accuracy", "f1"]


def test_mismatched_or_empty_inputs():
    with pytest.raises(
        ParameterError, match=r"evaluations \['a', 'b'\] and trained models \['b', 'a'\] do not match"
    ):
        pick_best([_evaluation("a", f1=1.0), _evaluation("b", f1=1.0)], [_trained("b"), _trained("a")], "f1")
    with pytest.raises(
        ParameterError, match=r"pick_best got no evaluations; train and evaluate at least one"
    ):
        pick_best([], [])


def test_gate_passes_on_the_threshold_without_a_champion():
    decision = quality_gate(_candidate("roc_auc", 0.991), threshold=0.9)
    assert decision.passed and bool(decision)
    assert decision.reasons == ["roc_auc 0.991 >= threshold 0.9"]
    assert decision.champion_value is None
    assert decision.model == "m"


def test_gate_fails_below_the_threshold():
    decision = quality_gate(_candidate("roc_auc", 0.85), threshold=0.9)
    assert not decision and decision.passed is False
    assert decision.reasons == ["roc_auc 0.85 < threshold 0.9"]


def test_gate_passes_when_it_beats_the_champion_by_the_margin():
    decision = quality_gate(
        _candidate("roc_auc", 0.991), 0.9, {"roc_auc": 0.985, "f1": 0.9}, min_improvement=0.005
    )
    assert decision.passed
    assert decision.reasons == [
        "roc_auc 0.991 >= threshold 0.9",
        "improves on the champion 0.985 by 0.006 >= 0.005",
    ]
    assert (decision.champion_value, decision.min_improvement) == (0.985, 0.005)


@pytest.mark.parametrize(
    ("value", "reason"),
    [
        (0.987, "improves on the champion 0.985 by only 0.002 < 0.005"),
        (0.985, "ties the champion 0.985, short of the required improvement 0.005"),
        (0.97, "is worse than the champion 0.985 by 0.015"),
    ],
)
def test_gate_fails_when_it_does_not_beat_the_champion_enough(value, reason):
    decision = quality_gate(_candidate("roc_auc", value), 0.9, {"roc_auc": 0.985}, min_improvement=0.005)
    assert not decision.passed
    assert decision.reasons[1] == reason


def test_gate_on_an_error_metric_wants_lower_values():
    passed = quality_gate(_candidate("rmse", 50.0), 55.0, {"rmse": 52.0}, min_improvement=1.0)
    assert passed.passed
    assert passed.reasons == [
        "rmse 50 <= threshold 55 (lower is better)",
        "improves on the champion 52 by 2 >= 1",
    ]
    failed = quality_gate(_candidate("rmse", 60.0), 55.0)
    assert not failed.passed
    assert failed.reasons == ["rmse 60 > threshold 55 (lower is better)"]


def test_a_champion_without_the_metric_leaves_only_the_threshold():
    decision = quality_gate(_candidate("roc_auc", 0.95), 0.9, {"accuracy": 0.99})
    assert decision.passed
    assert decision.reasons[1] == "the champion has no roc_auc metric, so only the threshold applies"


def test_negative_min_improvement_is_an_error():
    with pytest.raises(ParameterError, match=r"quality_gate: min_improvement must be >= 0, got -0\.1\."):
        quality_gate(_candidate("roc_auc", 0.95), 0.9, min_improvement=-0.1)


def test_decision_is_a_plain_record():
    decision = GateDecision(True, "f1", 0.9, 0.8, None, 0.0, ["f1 0.9 >= threshold 0.8"])
    assert bool(decision) and not bool(GateDecision(False, "f1", 0.7, 0.8, None, 0.0))
