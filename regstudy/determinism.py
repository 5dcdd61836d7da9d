"""Seeding and TensorFlow op determinism: same parameters and seed, same numbers on the same machine."""

from __future__ import annotations

import os

import keras
import tensorflow as tf


def make_deterministic(seed: int) -> dict[str, str]:
    """Seed Python, NumPy and TensorFlow, turn op determinism on, and return the settings as MLflow tags.

    Keras' global state (layer name counters, the default seed generator) is cleared first, so a run in a
    long-lived process (a notebook, the test suite) starts exactly as it would in a fresh one.
    """
    keras.backend.clear_session()
    keras.utils.set_random_seed(seed)
    tf.config.experimental.enable_op_determinism()
    return {
        "determinism.seed": str(seed),
        "determinism.op_determinism": "true",
        "determinism.python_hash_seed": os.environ.get("PYTHONHASHSEED", "unset"),
        # 0 is TensorFlow's default: every core.
        "threads.intra_op": str(
            tf.config.threading.get_intra_op_parallelism_threads() or os.environ.get("TF_NUM_INTRAOP_THREADS", 0)
        ),
        "threads.inter_op": str(
            tf.config.threading.get_inter_op_parallelism_threads() or os.environ.get("TF_NUM_INTEROP_THREADS", 0)
        ),
        "threads.cpu_count": str(os.cpu_count()),
        # Op determinism holds on a GPU too (TensorFlow then picks deterministic kernels); say which was used.
        "devices.gpus": str(len(tf.config.list_physical_devices("GPU"))),
    }
