"""`none`: the baseline, trained with no regularization at all."""

from regstudy.plugins.base import Plugin, register


@register("none")
class NoRegularization(Plugin):
    """The baseline: no regularization; it cannot be combined with any other plugin."""

    trains_alone = "it is the baseline without regularization"
