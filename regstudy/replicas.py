"""Which runs can train together as replicas of one program, and the groups a sweep trains them in.

Runs share a program when they differ only in what the compiled program takes as values of its state: the seed
(each replica's weights, random generators' states and order of examples), the learning rate when no plugin
schedules it (an optimizer variable), the hyperparameters a plugin declares `Plugin.replicable` (those
that act only in callbacks, and those it reads from the model's state), the plugins whose models differ only
in those (`Plugin.program`: L1, L2 and the elastic net build one penalty), and the plugins that act only
through callbacks (`Plugin.traced`: early stopping, Prechelt's criteria, SWA train on the program of the same
run without them, so the default study trains them with its baseline). Everything else (the data set and
split, the model, the plugins and their other hyperparameters, the epochs and the batch size) is traced into
the program, so it splits groups.

Only an engine that trains replicas in one program (`Engine.trains_replicas`: the jax engine) groups runs; on
the others each run is a group of its own, trained as today.
"""

from __future__ import annotations

import hashlib
import json
from collections.abc import Sequence

from regstudy.config import RunConfig
from regstudy.engines import ENGINES
from regstudy.plugins import PLUGINS, Plugin

DEFAULT_REPLICAS = 64
"""The most runs a group trains together unless a study says otherwise (`replicas`); 1 trains each run alone,
the path before replica groups. A group's fixed costs (compiling its program, its notebook) are paid once, and
on 2 cores its arithmetic grows as its size does, so a program's runs train best as few groups: 64 holds a
method's three strengths at 16 seeds. A group of 64 of the default study's MLPs (26,122 weights each, with
Adam's two moments) and their stacked training sets is about 25 MB of state."""

TRIALS_AT_ONCE = 16
"""The most trials a search asks for at once unless told otherwise: asked before the earlier ones end, they
leave a model-based sampler (TPE) fewer results to learn from than a group's size would."""


def program_key(config: RunConfig) -> str:
    """A short hash of everything of `config` that its compiled program is traced from (see the module)."""
    parameters = {k: v for k, v in config.to_dict().items() if k not in ("seed", "experiment", "run_name")}
    plugins = {name: PLUGINS.get(name) for name in config.plugins}
    if not any(_schedules_learning_rate(plugin) for plugin in plugins.values()):
        del parameters["learning_rate"]
    parameters["plugins"] = sorted(
        json.dumps(plugins[name].program(name, options), sort_keys=True)
        for name, options in config.plugins.items()
        if plugins[name].traced()
    )
    return hashlib.sha256(json.dumps(parameters, sort_keys=True).encode()).hexdigest()[:12]


def _schedules_learning_rate(plugin: type[Plugin]) -> bool:
    return plugin.learning_rate is not Plugin.learning_rate


def groups(configs: Sequence[RunConfig], size: int = DEFAULT_REPLICAS) -> list[list[int]]:
    """The positions of `configs` in groups of at most `size` runs of one program, in the order of their first
    run; each run alone if `size` is 1 or its engine trains no replicas."""
    keyed: dict[str, list[list[int]]] = {}
    for index, config in enumerate(configs):
        together = size > 1 and ENGINES.get(config.engine).trains_replicas
        key = program_key(config) if together else f"alone {index}"
        chunks = keyed.setdefault(key, [[]])
        if len(chunks[-1]) >= size:
            chunks.append([])
        chunks[-1].append(index)
    found = [chunk for chunks in keyed.values() for chunk in chunks]
    return sorted(found, key=lambda chunk: chunk[0])
