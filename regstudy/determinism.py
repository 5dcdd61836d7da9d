"""Seeding and deterministic kernels: same parameters, seed and engine, same numbers on the same machine."""

from __future__ import annotations

import gc
import os
import random
import sys

import keras
import numpy as np


def make_deterministic(seed: int) -> dict[str, str]:
    """Seed Python, NumPy and the Keras backend, make its kernels deterministic, and return the settings as
    MLflow tags.

    Keras' global state (layer name counters, the default seed generator) is cleared first, so a run in a
    long-lived process (a notebook, the test suite) starts exactly as it would in a fresh one; the earlier
    runs' objects are left to Python's own collector unless memory is short (a full collection costs about
    0.4 s, a fifth of a short run, and changes no number). On TensorFlow,
    op determinism is turned on; on JAX every random draw takes a key from the seed, and XLA's CPU kernels
    are deterministic.
    """
    keras.backend.clear_session(free_memory=False)
    if memory_is_short():
        gc.collect()
    set_random_seed(seed)
    tags = {
        "determinism.seed": str(seed),
        "determinism.op_determinism": "true",
        "determinism.python_hash_seed": os.environ.get("PYTHONHASHSEED", "unset"),
        "threads.cpu_count": str(os.cpu_count()),
        "keras.backend": keras.backend.backend(),
    }
    if keras.backend.backend() == "jax":
        import jax

        gpus = [device for device in jax.devices() if device.platform == "gpu"]
        return {**tags, "jax.version": jax.__version__, "devices.gpus": str(len(gpus))}
    return {**tags, **_tensorflow_determinism()}


def set_random_seed(seed: int) -> None:
    """`keras.utils.set_random_seed(seed)`, but without importing TensorFlow on JAX: Keras' own seeds Python,
    NumPy, its global seed generator and TensorFlow, which it imports to seed even on JAX (3 to 12 s here, in
    each of a sweep's workers) though nothing of a JAX run draws from it. Unless TensorFlow is the
    backend or imported already, the three others are seeded as Keras seeds them (its global seed and seed
    generator are Keras' global state); tests/test_jax_engine.py checks that a run on JAX imports no
    TensorFlow and that Keras' unseeded draws follow the same seed as under Keras' own function."""
    if keras.backend.backend() == "tensorflow" or "tensorflow" in sys.modules:
        keras.utils.set_random_seed(seed)
        return
    from keras.src.backend.common import global_state
    from keras.src.random import seed_generator
    from keras.src.utils import rng_utils

    global_state.set_global_attribute(rng_utils.GLOBAL_RANDOM_SEED, seed)
    global_state.set_global_attribute(seed_generator.GLOBAL_SEED_GENERATOR, None)
    random.seed(seed)
    np.random.seed(seed)


def _tensorflow_determinism() -> dict[str, str]:
    import tensorflow as tf

    tf.config.experimental.enable_op_determinism()
    return {
        # 0 is TensorFlow's default: every core.
        "threads.intra_op": str(
            tf.config.threading.get_intra_op_parallelism_threads() or os.environ.get("TF_NUM_INTRAOP_THREADS", 0)
        ),
        "threads.inter_op": str(
            tf.config.threading.get_inter_op_parallelism_threads() or os.environ.get("TF_NUM_INTEROP_THREADS", 0)
        ),
        # Op determinism holds on a GPU too (TensorFlow then picks deterministic kernels); say which was used.
        "devices.gpus": str(len(tf.config.list_physical_devices("GPU"))),
    }


SHORT_OF_MEMORY = 0.25
"""Below this share of the machine's memory free, a run starts with a full garbage collection."""


def memory_is_short() -> bool:
    """Whether less than `SHORT_OF_MEMORY` of the physical memory is free now (False where the system does
    not say)."""
    try:
        return os.sysconf("SC_AVPHYS_PAGES") < SHORT_OF_MEMORY * os.sysconf("SC_PHYS_PAGES")
    except (ValueError, OSError, AttributeError):
        return False
