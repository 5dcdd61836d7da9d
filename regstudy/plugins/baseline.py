"""`none`: the baseline, trained with no regularization at all."""

from regstudy.errors import IncompatiblePluginsError
from regstudy.plugins.base import Plugin, register


@register("none")
class NoRegularization(Plugin):
    """The baseline: no regularization; it cannot be combined with any other plugin."""

    def check(self, config):
        if len(config.plugins) > 1:
            raise IncompatiblePluginsError(
                "plugins", config.plugin_label, "cannot be combined: 'none' is the baseline without regularization"
            )
