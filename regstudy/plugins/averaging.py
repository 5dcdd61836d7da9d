"""Averaging weights or predictions: SWA, EMA, lookahead and snapshot ensembles.

SWA, EMA and snapshot ensembles decide the final model (the role "final model"), as restoring the best
weights after early stopping does, so a run has at most one of them.
"""

from __future__ import annotations

from regstudy import lazy_modules
from regstudy.errors import IncompatiblePluginsError
from regstudy.plugins.base import FINAL_MODEL, Plugin, register
from regstudy.validation import Interval

keras = lazy_modules.load("keras")


@register("swa")
class SWA(Plugin):
    """Stochastic weight averaging (Izmailov et al. 2018): the final weights are the mean of each epoch's.

    The mean runs from `start_epoch` to the last epoch; batch normalization's statistics are then recomputed
    over the training set. Logs `swa_epochs`. The learning rate stays the run's.

    Args:
        start_epoch: the first epoch (from 1) whose weights are averaged, no later than the last. Defaults to 1.
    """

    exclusive = (FINAL_MODEL,)
    varying = ("start_epoch",)
    parameter_constraints = {"start_epoch": Interval(int, 1, 100_000, limit=True)}

    def __init__(self, start_epoch=1):
        self.start_epoch = start_epoch

    def check(self, run):
        if self.start_epoch > run.epochs:
            raise IncompatiblePluginsError(
                "plugins.swa.start_epoch",
                self.start_epoch,
                f"is after the last epoch ({run.epochs}): nothing to average",
            )

    def callbacks(self):
        from regstudy.weight_averaging import StochasticWeightAveraging

        return [StochasticWeightAveraging(self.start_epoch)]


@register("ema")
class EMA(Plugin):
    """Exponential moving average of the weights (Polyak averaging): the final weights are the average.

    Keras' optimizer option `use_ema`: after each step `average ← momentum·average + (1 − momentum)·w`;
    the average replaces the weights when training ends. Logs `ema_steps`.

    Args:
        momentum: the average's momentum, in [0, 1). Defaults to 0.99.
    """

    exclusive = (FINAL_MODEL,)
    in_state = ("momentum",)
    parameter_constraints = {"momentum": Interval(float, 0, 1, closed="left")}

    def __init__(self, momentum=0.99):
        self.momentum = momentum

    def optimizer_options(self):
        return {"use_ema": True, "ema_momentum": self.momentum}

    def held(self, model):
        return [(model.optimizer, "ema_momentum", "momentum")]

    def callbacks(self):
        from regstudy.weight_averaging import EmaReport

        return [EmaReport()]


@register("lookahead")
class Lookahead(Plugin):
    """Lookahead (Zhang et al. 2019): slow weights follow the optimizer's fast weights every `k` steps.

    Every `k` steps the slow weights move `alpha` of the way to the fast ones, which restart from them.
    Keras has no lookahead optimizer; this one wraps whichever optimizer the run uses.

    Args:
        k: the steps between synchronizations, >= 1. Defaults to 5.
        alpha: the slow weights' step size, in (0, 1]. Defaults to 0.5.
    """

    in_state = ("alpha",)
    parameter_constraints = {
        "k": Interval(int, 1, 100_000, limit=True),
        "alpha": Interval(float, 0, 1, closed="right"),
    }

    def __init__(self, k=5, alpha=0.5):
        self.k = k
        self.alpha = alpha

    def after_update(self, model):
        from regstudy.weight_averaging import Lookahead

        return Lookahead(model.trainable_variables, self.k, self.state_value("alpha"))


@register("snapshot_ensemble")
class SnapshotEnsemble(Plugin):
    """Snapshot ensembles (Huang et al. 2017): cosine cycles with restarts, predictions averaged over cycles.

    The learning rate follows `cycles` cosine cycles from the run's rate to 0, step by step (Keras'
    `CosineDecayRestarts`, with `cycles` a value of the state: `weight_averaging.CosineCycles`); the weights at
    the end of each cycle are a snapshot, and the final predictions are the mean of the snapshots'. Logs
    `snapshots`.

    Args:
        cycles: the cycles in the run's epochs, >= 1 (at most one per epoch). Defaults to 3.
    """

    exclusive = (FINAL_MODEL,)
    final_predictions = True
    in_state = ("cycles",)
    parameter_constraints = {"cycles": Interval(int, 1, 10_000, limit=True)}

    def __init__(self, cycles=3):
        self.cycles = cycles

    def learning_rate(self, learning_rate, steps_per_epoch, epochs):
        from regstudy.weight_averaging import CosineCycles

        self.schedule = CosineCycles(learning_rate, self.cycles, epochs, steps_per_epoch)
        return self.schedule

    def held(self, model):
        return [(self.schedule, "cycles", "cycles")]

    def callbacks(self):
        from regstudy.weight_averaging import SnapshotEnsemble

        return [SnapshotEnsemble(self.cycles)]
