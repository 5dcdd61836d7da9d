"""Transforming each training batch inside the training step: mixup, cutmix, cutout and image augmentation.

Each overrides `Plugin.batch_transform`, written with Keras' preprocessing layers and `keras.ops`; every
draw comes from the step's seed (`regstudy.steps`), so a run is reproducible under either engine, and
validation and test batches are never transformed.
"""

from __future__ import annotations

from regstudy import lazy_modules
from regstudy.errors import IncompatiblePluginsError
from regstudy.plugins.base import Plugin, RunDescription, register
from regstudy.validation import Interval

keras = lazy_modules.load("keras")


def _require_images(plugin: Plugin, run: RunDescription) -> None:
    if not run.images:
        raise IncompatiblePluginsError("plugins", plugin.name, f"acts on images, but '{run.dataset}' is not image data")


def _as_images(x, image_shape):
    """`x` (batch, features) as a batch of one-channel images; tabular rows as 1 × features images."""
    height, width = image_shape or (1, x.shape[-1])
    return keras.ops.reshape(x, (-1, height, width, 1))


@register("mixup")
class Mixup(Plugin):
    """Mixup (Zhang et al. 2018): train on convex combinations `λ·(x_i, y_i) + (1 − λ)·(x_j, y_j)` of pairs.

    Keras' `MixUp`: `λ ~ Beta(alpha, alpha)` per example, `j` a random permutation of the batch. Works on any
    data (a tabular row is mixed feature by feature) and mixes regression targets alike.

    Args:
        alpha: the Beta distribution's parameter, > 0; small values mix little. Defaults to 0.2.
    """

    in_state = ("alpha",)
    parameter_constraints = {"alpha": Interval(float, 0, None, closed="neither")}

    def __init__(self, alpha=0.2):
        self.alpha = alpha

    def batch_transform(self, image_shape):
        layer = keras.layers.MixUp(alpha=self.alpha)
        layer.alpha = self.state_value("alpha")  # drawn from in the step: the replica's value (`in_state`)

        def transform(x, y, seed):
            mixed, labels, _, _ = mix(layer, x, y, seed)
            return mixed, labels

        return transform


def mix(layer, x, y, seed):
    """Keras' `MixUp` `layer` on the batch `(x, y)`: the mixed batch, the weights `λ` and the permutation `j`."""
    images = _as_images(x, None)
    transformation = layer.get_random_transformation(images, training=True, seed=seed)
    mixed = keras.ops.reshape(layer.transform_images(images, transformation), keras.ops.shape(x))
    labels = layer.transform_labels(y, transformation)
    return mixed, labels, transformation["mix_weight"], transformation["permutation_order"]


@register("cutmix")
class CutMix(Plugin):
    """CutMix (Yun et al. 2019): paste a random box from another image of the batch; mix labels by its area.

    Keras' `CutMix`, with the box's area fraction `1 − λ`, `λ ~ Beta(alpha, alpha)`. Image data only.

    Args:
        alpha: the Beta distribution's parameter, in (0, 1]. Defaults to 1.0 (λ uniform, as in the paper).
    """

    in_state = ("alpha",)
    parameter_constraints = {"alpha": Interval(float, 0, 1, closed="right")}

    def __init__(self, alpha=1.0):
        self.alpha = alpha

    def check(self, run):
        _require_images(self, run)

    def batch_transform(self, image_shape):
        layer = keras.layers.CutMix(factor=(self.alpha, self.alpha))

        def transform(x, y, seed):
            images = _as_images(x, image_shape)
            # Keras draws Beta's parameter between its factor's two numbers: here the replica's (`in_state`),
            # read in the step, and the number again after it.
            layer.factor = (keras.ops.convert_to_tensor(self.state_value("alpha")),) * 2
            try:
                transformation = layer.get_random_transformation(images, training=True, seed=seed)
            finally:
                layer.factor = (self.alpha, self.alpha)
            cut = keras.ops.reshape(layer.transform_images(images, transformation), keras.ops.shape(x))
            return cut, layer.transform_labels(y, transformation)

        return transform


@register("cutout")
class Cutout(Plugin):
    """Cutout (DeVries and Taylor 2017): zero a random square patch of each image, or random features of a row.

    Images: a square of side `round(fraction × side)` centred on a uniformly drawn pixel (clipped at the
    borders, as in the paper). Tabular data: each feature zeroed with probability `fraction`, as Kadra et
    al. (2021) apply it. The features are standardized, so zero is the training mean.

    Args:
        fraction: the patch's side as a fraction of the image's, or the share of features zeroed, in (0, 1).
            Defaults to 0.5 (the paper's 16-pixel patch on 32-pixel CIFAR images).
    """

    in_state = ("fraction",)
    parameter_constraints = {"fraction": Interval(float, 0, 1, closed="neither")}

    def __init__(self, fraction=0.5):
        self.fraction = fraction

    def mask(self, x, seed, image_shape):
        """Where the batch `x` is zeroed: a boolean tensor of its shape. The fraction is read from the state,
        in the step: the replica's (`in_state`)."""
        batch, fraction = keras.ops.shape(x)[0], keras.ops.convert_to_tensor(self.state_value("fraction"))
        if image_shape is None:
            return keras.random.uniform(keras.ops.shape(x), seed=seed) < fraction
        height, width = image_shape
        # Python's `round` and `ops.round` both round half to even
        side = keras.ops.maximum(1.0, keras.ops.round(fraction * min(height, width)))

        def inside(length):
            centre = keras.ops.floor(keras.random.uniform((batch, 1), seed=seed) * length)
            start = centre - side // 2
            positions = keras.ops.arange(length, dtype="float32")[None, :]
            return (positions >= start) & (positions < start + side)

        rows, columns = inside(height), inside(width)
        return keras.ops.reshape(rows[:, :, None] & columns[:, None, :], (-1, height * width))

    def batch_transform(self, image_shape):
        def transform(x, y, seed):
            return keras.ops.where(self.mask(x, seed, image_shape), keras.ops.zeros_like(x), x), y

        return transform


@register("augment")
class Augment(Plugin):
    """Image augmentation: random shift, rotation and zoom of each training image (Keras' preprocessing layers).

    Keras' `RandomTranslation`, `RandomRotation` and `RandomZoom`, in that order, filling with zeros (the
    mean of the standardized pixels). Image data only. A zero rotation or zoom turns that transform off; a
    zero shift translates by zero. The shift is a value of the state (`in_state`), so the translation is
    always there and replicas differing in it share one program.

    Args:
        shift: the largest shift, as a fraction of the height and of the width, in [0, 1). Defaults to 0.1.
        rotation: the largest rotation either way, in degrees, in [0, 180]. Defaults to 10.
        zoom: the largest zoom in or out, as a fraction, in [0, 1). Defaults to 0.1.
    """

    in_state = ("shift",)
    parameter_constraints = {
        "shift": Interval(float, 0, 1, closed="left"),
        "rotation": Interval(float, 0, 180),
        "zoom": Interval(float, 0, 1, closed="left"),
    }

    def __init__(self, shift=0.1, rotation=10.0, zoom=0.1):
        self.shift = shift
        self.rotation = rotation
        self.zoom = zoom

    def check(self, run):
        _require_images(self, run)

    def batch_transform(self, image_shape):
        options = {"fill_mode": "constant", "fill_value": 0.0}
        translation = keras.layers.RandomTranslation(self.shift, self.shift, **options)
        layers = [translation]
        if self.rotation:
            layers.append(keras.layers.RandomRotation(self.rotation / 360, **options))
        if self.zoom:
            layers.append(keras.layers.RandomZoom((-self.zoom, self.zoom), **options))

        def transform(x, y, seed):
            images = _as_images(x, image_shape)
            for layer in layers:
                if layer is translation:
                    transformation = _translation(layer, images, seed, self.state_value("shift"), self.shift)
                else:
                    transformation = layer.get_random_transformation(images, training=True, seed=seed)
                images = layer.transform_images(images, transformation)
            return keras.ops.reshape(images, keras.ops.shape(x)), y

        return transform


def _translation(layer, images, seed, shift, number: float):
    """Keras' `RandomTranslation` `layer`'s draw for `images`, between −shift and shift of the height and of the
    width: `shift` is read in the step (the replica's value), and the layer keeps the `number` it was built
    with after it."""
    bound = keras.ops.convert_to_tensor(shift)
    layer.height_lower = layer.width_lower = keras.ops.negative(bound)
    layer.height_upper = layer.width_upper = bound
    try:
        return layer.get_random_transformation(images, training=True, seed=seed)
    finally:
        layer.height_lower = layer.width_lower = -number
        layer.height_upper = layer.width_upper = number
