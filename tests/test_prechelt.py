"""Prechelt's GL, PQ and UP criteria on hand-made curves, and as plugins in real training."""

import numpy as np
import pytest

from regstudy.prechelt import generalization_loss, stops_gl, stops_pq, stops_up, training_progress
from regstudy.training import train


def test_generalization_loss_is_relative_to_the_best_so_far():
    np.testing.assert_allclose(generalization_loss([2.0, 1.0, 1.1, 0.5, 0.6]), [0.0, 0.0, 10.0, 0.0, 20.0])


def test_training_progress_over_a_strip():
    # last 5: sum 5.5, min 1.0 → 1000 · (5.5 / 5 − 1) = 100
    assert training_progress([9.0, 1.5, 1.0, 1.0, 1.0, 1.0, 1.5], strip=5) == pytest.approx(100.0)
    assert training_progress([1.0] * 5, strip=5) == 0.0


def test_gl_stops_once_the_loss_exceeds_alpha():
    assert not stops_gl([1.0, 0.8, 0.84], alpha=5.0)  # GL = 5, not above
    assert stops_gl([1.0, 0.8, 0.85], alpha=5.0)  # GL = 6.25


def test_pq_is_checked_only_at_the_end_of_a_strip():
    validation = [1.0, 0.9, 0.8, 0.9, 1.0]  # GL(5) = 25
    training = [1.5, 1.2, 1.0, 1.0, 1.0]  # P_5 = 1000 · (5.7 / 5 − 1) = 140
    assert stops_pq(validation, training, alpha=0.15, strip=5)  # 25 / 140 = 0.179
    assert not stops_pq(validation, training, alpha=0.2, strip=5)
    assert not stops_pq(validation[:4], training[:4], alpha=0.01, strip=5)  # mid-strip


def test_up_needs_rises_over_successive_strips():
    # strips of 2 epochs end at epochs 2, 4, 6: errors 3 → 3.5 → 5 rose twice
    assert stops_up([5, 3, 2, 3.5, 4, 5], successive_strips=2, strip=2)
    assert not stops_up([5, 3, 2, 3.5, 4, 3], successive_strips=2, strip=2)  # fell over the last strip
    assert not stops_up([5, 3, 2, 3.5, 4], successive_strips=2, strip=2)  # epoch 5 ends no strip
    assert not stops_up([5, 3, 2, 3.5], successive_strips=2, strip=2)  # only one strip to compare yet
    assert stops_up([5, 3, 2, 3.5], successive_strips=1, strip=2)


@pytest.mark.parametrize(
    "plugin", [{"gl": {"alpha": 1.0}}, {"pq": {"alpha": 0.3, "strip": 3}}, {"up": {"strips": 1, "strip": 2}}]
)
def test_each_criterion_stops_overfitting_and_restores_the_best_epoch(plugin, experiment):
    result = train(
        experiment=experiment, plugins=plugin, hidden_units=[256], learning_rate=0.01, train_size=100, epochs=60
    )
    history, metrics = result.history, result.metrics
    assert 0 < metrics["stopped_epoch"] == len(history["loss"]) < 60
    assert metrics["restored_epoch"] == int(np.argmin(history["val_loss"])) + 1
    assert metrics["validation_loss"] == pytest.approx(min(history["val_loss"]), rel=1e-4)
