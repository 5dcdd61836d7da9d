"""The modern regularizers, each checked against what it is: a definition written here in numpy, a published
rule, or a distribution in scipy. The registry-parametrized tests (test_plugins.py, test_engines.py) cover
their basics: round trip, a short fit, both engines alike."""

import keras
import numpy as np
import pytest
import scipy.stats

from regstudy import PLUGINS, IncompatiblePluginsError, RunConfig
from regstudy.keras_additions import StateSpectralNormalization
from regstudy.plugins.augmentation import mix
from regstudy.residual_layers import ShakeDrop, ShakeShake, StochasticDepth
from regstudy.steps import RegularizedModel, Step
from regstudy.training import train
from regstudy.weight_averaging import CosineCycles, EnsembleModel

from helpers import runs_of

RNG = np.random.default_rng(0)


def _linear_model(features=3, **hooks):
    """y = x·w + b, trained by plain SGD on the mean squared error, with the given step hooks."""
    inputs = keras.Input((features,))
    outputs = keras.layers.Dense(1, kernel_initializer="random_normal", bias_initializer="random_normal")(inputs)
    model = RegularizedModel(inputs, outputs, **hooks)
    model.compile(optimizer=keras.optimizers.SGD(0.1), loss="mse")
    return model


def _linear_gradients(w, b, x, y):
    """The gradients of mean((x·w + b − y)²) by hand: 2/n·xᵀr and 2/n·Σr, r the residuals."""
    residual = x @ w + b - y
    return 2 / len(x) * x.T @ residual, 2 / len(x) * residual.sum(axis=0)


def _weights(model):
    return [v.numpy().astype(np.float64) for v in model.trainable_variables]


# --- training-step changes -----------------------------------------------------------------------------------


def test_a_sam_step_equals_the_two_pass_update_computed_by_hand():
    rho, rate = 0.3, 0.1
    model = _linear_model(step_gradients=PLUGINS.get("sam")(rho=rho).step_gradients)
    x, y = RNG.normal(size=(8, 3)).astype(np.float32), RNG.normal(size=(8, 1)).astype(np.float32)
    w, b = _weights(model)
    # Foret et al. 2021, eq. 2-3: ε = ρ·g/‖g‖ over all parameters; the update uses the gradient at w + ε.
    gw, gb = _linear_gradients(w, b, x, y)
    scale = rho / np.sqrt(np.sum(gw**2) + np.sum(gb**2))
    sharp_w, sharp_b = _linear_gradients(w + scale * gw, b + scale * gb, x, y)
    model.train_step((x, y))
    new_w, new_b = _weights(model)
    np.testing.assert_allclose(new_w, w - rate * sharp_w, rtol=1e-5, atol=1e-6)
    np.testing.assert_allclose(new_b, b - rate * sharp_b, rtol=1e-5, atol=1e-6)


def test_fgsm_moves_the_inputs_by_epsilon_times_the_sign_of_the_input_gradient_and_averages_the_two_gradients():
    epsilon, rate = 0.25, 0.1
    fgsm = PLUGINS.get("fgsm")(epsilon=epsilon)
    model = _linear_model(step_gradients=fgsm.step_gradients)
    x, y = RNG.normal(size=(8, 3)).astype(np.float32), RNG.normal(size=(8, 1)).astype(np.float32)
    w, b = _weights(model)
    # ∂/∂x_i of mean((x·w + b − y)²) is 2/n·r_i·wᵀ: its sign is sign(r_i)·sign(w).
    residual = x @ w + b - y
    moved = x + epsilon * np.sign(residual) * np.sign(w).T
    np.testing.assert_allclose(fgsm.adversarial_inputs(Step(model), x, y).numpy(), moved, rtol=1e-6)
    # Goodfellow et al. 2015, eq. 4 with α = ½.
    clean, adversarial = _linear_gradients(w, b, x, y), _linear_gradients(w, b, moved, y)
    model.train_step((x, y))
    new_w, new_b = _weights(model)
    np.testing.assert_allclose(new_w, w - rate * 0.5 * (clean[0] + adversarial[0]), rtol=1e-5, atol=1e-6)
    np.testing.assert_allclose(new_b, b - rate * 0.5 * (clean[1] + adversarial[1]), rtol=1e-5, atol=1e-6)


def test_lookahead_moves_the_slow_weights_alpha_of_the_way_every_k_steps():
    k, alpha, rate = 2, 0.5, 0.1
    model = _linear_model()
    model.after_update = [PLUGINS.get("lookahead")(k=k, alpha=alpha).after_update(model)]
    x, y = RNG.normal(size=(8, 3)).astype(np.float32), RNG.normal(size=(8, 1)).astype(np.float32)
    start = _weights(model)
    fast = [value.copy() for value in start]
    for _ in range(k):  # k plain SGD steps of the fast weights
        gradients = _linear_gradients(*fast, x, y)
        fast = [value - rate * gradient for value, gradient in zip(fast, gradients)]
        model.train_step((x, y))
    # Zhang et al. 2019, algorithm 1: φ ← φ + α(θ − φ), θ ← φ.
    for ours, slow, moved in zip(_weights(model), start, fast):
        np.testing.assert_allclose(ours, slow + alpha * (moved - slow), rtol=1e-5, atol=1e-6)


# --- batch transforms ----------------------------------------------------------------------------------------


def test_mixup_mixes_pairs_and_their_labels_with_beta_distributed_weights():
    alpha = 0.4
    layer = keras.layers.MixUp(alpha=alpha)
    seed = keras.random.SeedGenerator(7)
    weights = []
    for _ in range(40):
        x = RNG.normal(size=(64, 5)).astype(np.float32)
        y = np.eye(10, dtype=np.float32)[RNG.integers(0, 10, 64)]
        mixed, labels, weight, order = (np.asarray(t) for t in mix(layer, x, y, seed))
        assert sorted(order) == list(range(64))
        np.testing.assert_allclose(mixed, weight[:, None] * x + (1 - weight[:, None]) * x[order], rtol=1e-5, atol=1e-6)
        np.testing.assert_allclose(labels, weight[:, None] * y + (1 - weight[:, None]) * y[order], rtol=1e-5)
        weights.append(weight)
    # Zhang et al. 2018: λ ~ Beta(α, α); scipy's Beta is the reference.
    assert scipy.stats.kstest(np.concatenate(weights), scipy.stats.beta(alpha, alpha).cdf).pvalue > 1e-3


def test_cutout_zeroes_exactly_one_square_patch_of_each_image():
    cutout = PLUGINS.get("cutout")(fraction=0.5)  # a 4 × 4 patch of an 8 × 8 image, clipped at the borders
    x = RNG.normal(size=(200, 64)).astype(np.float32) + 10  # no pixel is zero before
    mask = np.asarray(cutout.mask(x, keras.random.SeedGenerator(3), (8, 8)))
    out = np.asarray(cutout.batch_transform((8, 8))(x, None, keras.random.SeedGenerator(3))[0])
    np.testing.assert_array_equal(out, np.where(mask, 0, x))
    for patch in mask.reshape(-1, 8, 8):
        rows, columns = np.flatnonzero(patch.any(axis=1)), np.flatnonzero(patch.any(axis=0))
        np.testing.assert_array_equal(patch, np.outer(patch.any(axis=1), patch.any(axis=0)))  # one rectangle
        assert np.all(np.diff(rows) == 1) and np.all(np.diff(columns) == 1)  # contiguous
        assert 2 <= len(rows) <= 4 and 2 <= len(columns) <= 4  # a 4-pixel side, at least half inside
    interior = [p for p in mask.reshape(-1, 8, 8) if not (p[0].any() or p[-1].any() or p[:, 0].any() or p[:, -1].any())]
    assert interior and all(p.sum() == 16 for p in interior)


def test_cutout_of_tabular_rows_zeroes_each_feature_with_the_given_probability():
    cutout = PLUGINS.get("cutout")(fraction=0.3)
    x = RNG.normal(size=(500, 40)).astype(np.float32) + 10
    mask = np.asarray(cutout.mask(x, keras.random.SeedGenerator(5), None))
    out = np.asarray(cutout.batch_transform(None)(x, None, keras.random.SeedGenerator(5))[0])
    np.testing.assert_array_equal(out, np.where(mask, 0, x))
    # 20,000 Bernoulli(0.3) draws: the share is 0.3 within 4 standard deviations.
    assert abs(mask.mean() - 0.3) < 4 * np.sqrt(0.3 * 0.7 / mask.size)


@pytest.mark.parametrize("plugins", [{"mixup": {"alpha": 1.0}}, {"cutout": {}, "augment": {}}, {"cutmix": {}}])
def test_batch_transforms_never_touch_validation_or_test_data(plugins, experiment):
    result = train(experiment=experiment, plugins=plugins, train_size=100, epochs=1, hidden_units=[16])
    splits, model = result.splits, result.model
    for x, y, logged in [
        (splits.x_validation, splits.y_validation, result.history["val_loss"][-1]),
        (splits.x_test, splits.y_test, result.metrics["test_loss"]),
    ]:
        probabilities = model.predict(x, verbose=0).astype(np.float64)
        cross_entropy = -np.mean(np.log(np.clip(probabilities[np.arange(len(y)), y], 1e-7, 1)))
        assert logged == pytest.approx(cross_entropy, rel=1e-4)


def test_batch_transforms_draw_from_the_seed_and_step_not_from_global_state(experiment):
    parameters = {"plugins": {"mixup": {}, "cutout": {}}, "train_size": 100, "epochs": 2, "hidden_units": [16]}
    first = train(experiment=experiment, **parameters)
    keras.utils.set_random_seed(12345)  # global state a transform must not read
    keras.random.uniform((3,))
    again = train(experiment=experiment, **parameters)
    other = train(experiment=experiment, **{**parameters, "seed": 1})
    assert first.history == again.history and first.metrics == again.metrics
    assert other.history["loss"] != first.history["loss"]


# --- residual blocks -----------------------------------------------------------------------------------------


def _draws(layer, branches, training):
    return np.asarray(layer([keras.ops.convert_to_tensor(b) for b in branches], training=training))


@pytest.mark.parametrize("layer_class", [StochasticDepth, ShakeDrop])
def test_a_dropped_branch_is_random_in_training_and_its_expectation_at_inference(layer_class):
    survival = 0.7
    layer = layer_class(survival, seed=1)
    branch = RNG.normal(size=(20_000, 3)).astype(np.float32)
    inference = _draws(layer, [branch], training=False)
    np.testing.assert_allclose(inference, survival * branch, rtol=1e-6)
    np.testing.assert_array_equal(inference, _draws(layer, [branch], training=False))
    factors = _draws(layer, [branch], training=True) / branch  # one factor per example
    assert np.allclose(factors, factors[:, :1], rtol=1e-4, atol=1e-5)
    factor = factors[:, 0]
    # E[factor] = survival: Bernoulli(p) for stochastic depth; b + α − bα with α ~ U(−1, 1) for shake-drop.
    assert abs(factor.mean() - survival) < 4 * factor.std() / np.sqrt(len(factor))
    if layer_class is StochasticDepth:
        assert set(np.round(factor, 5)) == {0.0, 1.0}
    else:
        assert factor.min() < 0 and factor.max() <= 1  # α reaches negative values when the gate is closed


def test_shake_drop_scales_the_gradient_by_an_independent_factor_in_zero_one():
    import tensorflow as tf

    layer = ShakeDrop(0.5, seed=2)
    branch = tf.constant(np.ones((5_000, 1), dtype=np.float32))
    with tf.GradientTape() as tape:
        tape.watch(branch)
        forward = layer([branch], training=True)
        total = tf.reduce_sum(forward)
    backward = tape.gradient(total, branch).numpy()[:, 0]
    assert backward.min() >= 0 and backward.max() <= 1  # b + β − bβ with β ~ U(0, 1)
    assert not np.allclose(backward, forward.numpy()[:, 0])


def test_shake_shake_mixes_two_branches_and_averages_them_at_inference():
    layer = ShakeShake(seed=3)
    first, second = RNG.normal(size=(20_000, 2)).astype(np.float32), RNG.normal(size=(20_000, 2)).astype(np.float32)
    np.testing.assert_allclose(_draws(layer, [first, second], False), (first + second) / 2, rtol=1e-6)
    # With branches 1 and 0 the output is the first branch's weight α itself: one per example, in [0, 1].
    alpha = _draws(layer, [np.ones_like(first), np.zeros_like(second)], True)
    np.testing.assert_array_equal(alpha[:, 0], alpha[:, 1])
    assert 0 <= alpha.min() and alpha.max() <= 1
    assert abs(alpha[:, 0].mean() - 0.5) < 4 * alpha[:, 0].std() / np.sqrt(len(alpha))


def test_a_resmlp_has_one_residual_block_per_size_and_shake_shake_two_branches_each():
    from regstudy.combination import Combination
    from regstudy.config import splits_for
    from regstudy.preparation import run_model
    from regstudy.weights import kernels

    for plugins, per_block in [({}, 2), ({"shake_shake": {}}, 4)]:
        config = RunConfig(model="resmlp", hidden_units=[16, 8, 8], plugins=plugins, train_size=60)
        model = run_model(config, splits_for(config), Combination.from_config(config.plugins))
        assert sum(isinstance(layer, keras.layers.Add) for layer in model.layers) == 3
        assert len(kernels(model)) == 1 + 3 * per_block + 1  # stem, the blocks' Dense layers, output


# --- layer wrappers ------------------------------------------------------------------------------------------


def test_spectral_normalization_keeps_each_hidden_kernels_largest_singular_value_near_one(experiment):
    result = train(
        experiment=experiment,
        plugins={"spectral_norm": {}, "l2": {"l2": 1e-3}},
        hidden_units=[64, 32],
        train_size=300,
        epochs=5,
    )
    wrapped = [layer.layer for layer in result.model.layers if isinstance(layer, keras.layers.SpectralNormalization)]
    assert len(wrapped) == 2
    # Each training step divides the kernel by its largest singular value as one power iteration estimates
    # it (a few percent off here), then the optimizer moves it by one step (at most about
    # learning_rate·√size in norm, 0.05 here).
    for layer in wrapped:
        assert np.linalg.norm(layer.kernel.numpy(), ord=2) == pytest.approx(1.0, abs=0.1)
    output = result.model.get_layer("output").kernel.numpy()
    assert np.linalg.norm(output, ord=2) > 1.2  # the output layer is not wrapped
    assert result.history["penalty"][-1] > 0  # the L2 penalty reaches the wrapped kernels


def test_spectral_normalization_with_its_iterations_in_the_state_normalizes_as_keras_does():
    # The reference is Keras' own SpectralNormalization: same kernel, same start vector, same iterations.
    x = RNG.normal(size=(4, 6)).astype(np.float32)
    for iterations in (1, 3):
        ours = StateSpectralNormalization(keras.layers.Dense(5), held=keras.Variable(iterations, dtype="int32"))
        theirs = keras.layers.SpectralNormalization(keras.layers.Dense(5), power_iterations=iterations)
        ours.build(x.shape), theirs.build(x.shape)
        theirs.layer.set_weights(ours.layer.get_weights())
        theirs.vector_u.assign(ours.vector_u.value)
        vector_u, kernel = ours.normalized_weights()
        expected_u, expected_kernel = theirs.normalized_weights()
        np.testing.assert_allclose(np.asarray(kernel), np.asarray(expected_kernel), rtol=1e-5, atol=1e-6)
        np.testing.assert_allclose(np.asarray(vector_u), np.asarray(expected_u), rtol=1e-5, atol=1e-6)
        sigma = np.linalg.norm(ours.layer.kernel.numpy(), ord=2)
        assert np.linalg.norm(np.asarray(kernel), ord=2) == pytest.approx(1.0, rel=0.5)  # σ ≈ 1 after division
        assert sigma != pytest.approx(1.0, rel=0.05)  # the kernel itself was not normalized already


@pytest.mark.parametrize("held", [False, True], ids=["a number", "a state value"])
def test_cosine_cycles_are_keras_cosine_decay_with_restarts_of_one_cycles_steps(held):
    cycles = keras.Variable(3, dtype="int32") if held else 3
    # The reference is Keras' CosineDecayRestarts, no growth of the cycle (t_mul = 1) nor of its peak (m_mul = 1).
    ours = CosineCycles(0.01, cycles, epochs=10, steps_per_epoch=4)  # cycles of ceil(10 / 3) = 4 epochs
    theirs = keras.optimizers.schedules.CosineDecayRestarts(0.01, 16, t_mul=1.0, m_mul=1.0, alpha=0.0)
    for step in range(41):
        assert float(ours(step)) == pytest.approx(float(theirs(step)), rel=1e-5, abs=1e-9)
    assert float(ours(16)) == pytest.approx(0.01)  # a restart
    assert CosineCycles.from_config(ours.get_config()).get_config() == ours.get_config()


# --- the end of training -------------------------------------------------------------------------------------


def test_swa_gives_the_mean_of_the_weights_of_the_averaged_epochs(experiment):
    parameters = {"train_size": 100, "hidden_units": [16], "experiment": experiment}
    # Without SWA the same seed trains the same trajectory: its weights after epochs 3, 4 and 5 are SWA's.
    trajectory = [_weights(train(epochs=epochs, **parameters).model) for epochs in (3, 4, 5)]
    averaged = train(epochs=5, plugins={"swa": {"start_epoch": 3}}, **parameters)
    assert averaged.metrics["swa_epochs"] == 3
    for ours, *epochs in zip(_weights(averaged.model), *trajectory):
        np.testing.assert_allclose(ours, np.mean(epochs, axis=0), rtol=1e-5, atol=1e-6)


def test_swa_recomputes_batch_normalization_statistics_over_the_training_set(experiment):
    result = train(experiment=experiment, plugins=["batch_norm", "swa"], hidden_units=[16], train_size=100, epochs=3)
    layer = next(layer for layer in result.model.layers if isinstance(layer, keras.layers.BatchNormalization))
    dense = result.model.layers[result.model.layers.index(layer) - 1]
    hidden = keras.Model(result.model.inputs, dense.output).predict(result.splits.x_train, verbose=0)
    np.testing.assert_allclose(layer.moving_mean.numpy(), hidden.mean(axis=0), rtol=1e-4, atol=1e-5)
    np.testing.assert_allclose(layer.moving_variance.numpy(), hidden.var(axis=0), rtol=1e-3, atol=1e-5)


def test_a_snapshot_ensemble_predicts_the_mean_of_its_snapshots_predictions():
    inputs = keras.Input((4,))
    member = RegularizedModel(inputs, keras.layers.Dense(3, activation="softmax")(keras.layers.Dense(5)(inputs)))
    snapshots = []
    for _ in range(3):
        weights = [RNG.normal(size=v.shape).astype(np.float32) for v in member.trainable_variables]
        snapshots.append((weights, []))
    x = RNG.normal(size=(10, 4)).astype(np.float32)
    expected = []
    for weights, _ in snapshots:
        member.set_weights(weights)
        expected.append(member.predict(x, verbose=0))
    ensemble = EnsembleModel(member, snapshots)
    np.testing.assert_allclose(ensemble.predict(x, verbose=0), np.mean(expected, axis=0), rtol=1e-5, atol=1e-7)


def test_a_snapshot_ensemble_takes_one_snapshot_per_cycle_of_a_cosine_schedule_with_restarts(experiment):
    result = train(
        experiment=experiment, plugins={"snapshot_ensemble": {"cycles": 2}}, hidden_units=[16], train_size=96, epochs=4
    )
    assert result.metrics["snapshots"] == 2
    schedule = result.model.optimizer._learning_rate  # Keras' CosineDecayRestarts, 2 epochs of 3 steps a cycle
    rates = [float(schedule(step)) for step in range(13)]
    assert rates[0] == pytest.approx(0.001) and rates[6] == pytest.approx(0.001)
    assert rates[5] < rates[3] < rates[1] < rates[0]


# --- combinations --------------------------------------------------------------------------------------------


def test_the_modern_cocktail_trains_logs_and_is_bit_identical_when_rerun(client, experiment):
    parameters = {
        "experiment": experiment,
        "model": "resmlp",
        "hidden_units": [32, 32],
        "plugins": {
            "batch_norm": {},
            "mixup": {},
            "swa": {"start_epoch": 2},
            "shake_drop": {},
            "weight_decay": {"weight_decay": 0.01},
        },
        "train_size": 200,
        "epochs": 3,
    }
    first, second = train(**parameters), train(**parameters)
    assert first.history == second.history and first.metrics == second.metrics
    for ours, theirs in zip(first.model.get_weights(), second.model.get_weights()):
        np.testing.assert_array_equal(ours, theirs)
    assert first.metrics["swa_epochs"] == 2
    runs = runs_of(client, experiment)
    assert {run.info.status for run in runs} == {"FINISHED"}
    assert all(run.data.tags["plugins"] == "batch_norm + mixup + swa + shake_drop + weight_decay" for run in runs)
    assert all(run.data.params["swa.start_epoch"] == "2" and run.data.params["model"] == "resmlp" for run in runs)


@pytest.mark.parametrize(
    "parameters, why",
    [
        ({"plugins": "shake_drop"}, "residual blocks, but a 'mlp' has none"),
        ({"plugins": "stochastic_depth", "model": "cnn"}, "use model: resmlp"),
        ({"plugins": "cutmix", "dataset": "noisy_classification"}, "acts on images"),
        ({"plugins": "augment", "dataset": "noisy_classification"}, "acts on images"),
        ({"plugins": "swa + ema"}, "each sets the final model"),
        ({"plugins": "early_stopping + snapshot_ensemble"}, "each sets the final model"),
        ({"plugins": "gl + swa"}, "each sets the final model"),
        ({"plugins": "sam + fgsm"}, "each sets the gradients of the training step"),
        ({"plugins": "stochastic_depth + shake_shake", "model": "resmlp"}, "join of residual branches"),
        ({"plugins": {"swa": {"start_epoch": 11}}, "epochs": 10}, "after the last epoch (10)"),
        ({"model": "resmlp", "hidden_units": []}, "a resmlp needs one size per block"),
    ],
)
def test_combinations_that_cannot_work_are_refused_with_the_reason(parameters, why):
    with pytest.raises(Exception) as caught:
        RunConfig(**parameters)
    assert why in str(caught.value)
    assert "\n" not in str(caught.value)


def test_early_stopping_that_keeps_the_last_weights_combines_with_swa():
    config = RunConfig(plugins={"early_stopping": {"restore_best_weights": False}, "swa": {}})
    assert config.plugin_label == "early_stopping + swa"
    with pytest.raises(IncompatiblePluginsError):
        RunConfig(plugins={"early_stopping": {}, "swa": {}})


def _train_step_ops(model):
    """The op types of `model`'s traced training step on batches of digits."""
    import tensorflow as tf

    model.compile(optimizer="adam", loss="categorical_crossentropy")
    model.optimizer.build(model.trainable_variables)
    step = tf.function(lambda x, y: model.train_step((x, y)), autograph=False)
    graph = step.get_concrete_function(tf.TensorSpec((None, 64)), tf.TensorSpec((None, 10))).graph
    return sorted(op.type for op in graph.get_operations())


def test_plugins_that_use_no_step_hook_train_with_exactly_keras_own_step():
    from regstudy.combination import Combination
    from regstudy.config import splits_for
    from regstudy.preparation import run_model

    def built(plugins):
        config = RunConfig(plugins=plugins, hidden_units=[8], train_size=60)
        return run_model(config, splits_for(config), Combination.from_config(config.plugins))

    model = built({"dropout": {}, "l2": {}, "swa": {}})
    assert _train_step_ops(model) == _train_step_ops(keras.Model(model.inputs, model.outputs))
    transformed = built({"dropout": {}, "l2": {}, "mixup": {}})
    assert len(_train_step_ops(transformed)) > len(
        _train_step_ops(keras.Model(transformed.inputs, transformed.outputs))
    )


# --- proximal L1 -----------------------------------------------------------------------------------------------


def test_the_proximal_step_soft_thresholds_every_kernel_by_the_learning_rate_times_the_strength():
    strength, rate = 0.5, 0.1
    model = _linear_model()
    model.after_update = [PLUGINS.get("l1")(l1=strength, method="proximal").after_update(model)]
    x, y = RNG.normal(size=(8, 3)).astype(np.float32), RNG.normal(size=(8, 1)).astype(np.float32)
    w, b = _weights(model)
    gw, gb = _linear_gradients(w, b, x, y)
    model.train_step((x, y))
    # Parikh and Boyd 2014, §6.5.2: prox of t·λ‖·‖₁ is soft-thresholding at t·λ; the bias is not penalized.
    stepped = w - rate * gw
    expected = np.sign(stepped) * np.maximum(np.abs(stepped) - rate * strength, 0)
    new_w, new_b = _weights(model)
    np.testing.assert_allclose(new_w, expected, rtol=1e-5, atol=1e-7)
    np.testing.assert_allclose(new_b, b - rate * gb, rtol=1e-5)


def test_under_adam_the_proximal_step_thresholds_each_weight_by_its_own_adam_step():
    """Kingma and Ba 2015, Algorithm 1, by hand for the first step; the threshold is λ times each weight's
    step size α_t/(√v̂+ε) (proximal Adam, Melchior et al. 2019), not λ times the learning rate."""
    strength, rate, beta_1, beta_2, epsilon = 0.05, 0.1, 0.9, 0.999, 1e-7
    model = _linear_model()
    model.compile(optimizer=keras.optimizers.Adam(rate, beta_1, beta_2, epsilon), loss="mse")
    model.after_update = [PLUGINS.get("l1")(l1=strength, method="proximal").after_update(model)]
    x, y = RNG.normal(size=(8, 3)).astype(np.float32), RNG.normal(size=(8, 1)).astype(np.float32)
    w, b = _weights(model)
    gw, _ = _linear_gradients(w, b, x, y)
    model.train_step((x, y))
    m, v = (1 - beta_1) * gw, (1 - beta_2) * gw**2
    alpha = rate * np.sqrt(1 - beta_2) / (1 - beta_1)
    step = alpha / (np.sqrt(v) + epsilon)
    stepped = w - step * m
    expected = np.sign(stepped) * np.maximum(np.abs(stepped) - step * strength, 0)
    # |stepped| − threshold cancels two numbers of about 0.1, whose float32 roundings (about 1e-8 each, over a
    # few operations) then stand beside a weight of 0.003: an absolute tolerance, at float32's scale of 0.1.
    np.testing.assert_allclose(_weights(model)[0], expected, rtol=1e-5, atol=1e-6)
    assert np.any(_weights(model)[0] == 0)  # λ·α_t/(√v̂+ε) ≈ 0.05 per unit step: the small weights reach zero


@pytest.mark.parametrize("strength", [0.01, 0.03, 0.1])
def test_proximal_l1_finds_the_zeros_and_accuracy_of_scikit_learns_l1_logistic_regression(strength, experiment):
    """The reference is scikit-learn's `LogisticRegression(l1_ratio=1, solver="saga")` on the same standardized
    training rows. regstudy minimizes mean cross-entropy + λ·Σ|w|; scikit-learn C·Σ cross-entropy + Σ|w|: the
    same problem when C = 1 / (n·λ). Full-batch proximal steps (ISTA) converge to its solution."""
    import warnings

    from sklearn.linear_model import LogisticRegression

    from regstudy.weights import kernels

    result = _softmax_regression_of_wine(experiment, {"l1": strength, "method": "proximal"}, epochs=1000)
    splits = result.splits
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")  # saga's convergence warning on this nearly separable set
        reference = LogisticRegression(
            l1_ratio=1, solver="saga", C=1 / (len(splits.x_train) * strength), max_iter=20_000, tol=1e-8
        ).fit(splits.x_train, splits.y_train)
    zeros = np.mean(kernels(result.model)[0].numpy() == 0)
    # the logged fraction is a float32 mean (`weights.statistics`, as the jax engine computes it in its epoch)
    assert result.history["weights_zero"][-1] == pytest.approx(zeros, rel=1e-6) and zeros > 0
    assert abs(zeros - np.mean(reference.coef_ == 0)) <= 0.10
    assert abs(result.metrics["test_accuracy"] - reference.score(splits.x_test, splits.y_test)) <= 0.02


@pytest.mark.parametrize("optimizer, rate", [("sgd", 0.5), ("adam", 0.01)])
def test_proximal_l1_reaches_scikit_learns_l1_optimum_under_sgd_and_adam(optimizer, rate, experiment):
    """The reference is scikit-learn's `LogisticRegression(l1_ratio=1, solver="saga")` run to a tight
    tolerance on the same training rows, the exact minimizer of mean cross-entropy + λ·Σ|w| (C = 1/(n·λ)).
    Under either optimizer the trained weights have the same zero pattern, up to 5 % of the weights, and an
    objective within 0.5 % of the reference's (which no method beats by more than its own tolerance)."""
    import warnings

    from sklearn.linear_model import LogisticRegression

    strength = 0.03
    result = _softmax_regression_of_wine(
        experiment, {"l1": strength, "method": "proximal"}, epochs=1500, optimizer=optimizer, learning_rate=rate
    )
    x, y = result.splits.x_train, result.splits.y_train
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")
        reference = LogisticRegression(l1_ratio=1, solver="saga", C=1 / (len(x) * strength), max_iter=50_000, tol=1e-10)
        reference.fit(x, y)
    output = result.model.get_layer("output")
    ours = output.kernel.numpy().T.astype(np.float64), output.bias.numpy().astype(np.float64)

    def objective(weights, bias):
        logits = x @ weights.T + bias
        logits -= logits.max(axis=1, keepdims=True)
        log_probabilities = logits - np.log(np.exp(logits).sum(axis=1, keepdims=True))
        return -log_probabilities[np.arange(len(y)), y].mean() + strength * np.abs(weights).sum()

    # The softmax's weights are defined up to a shift per feature, which L1 fixes at the median: compare zeros.
    assert np.mean((ours[0] == 0) != (reference.coef_ == 0)) <= 0.05
    assert objective(*ours) <= objective(reference.coef_, reference.intercept_) * 1.005


def test_the_subgradient_penalty_leaves_no_weight_exactly_zero(experiment):
    result = _softmax_regression_of_wine(experiment, {"l1": 0.03}, epochs=200)
    assert result.history["weights_zero"][-1] == 0


def _softmax_regression_of_wine(experiment, l1, epochs, optimizer="sgd", learning_rate=0.5):
    """Softmax regression of `wine` with the `l1` plugin's options `l1`, trained full-batch (by SGD)."""
    return train(
        experiment=experiment,
        dataset="wine",
        hidden_units=[],
        optimizer=optimizer,
        learning_rate=learning_rate,
        batch_size=1024,
        epochs=epochs,
        plugins={"l1": l1},
    )
