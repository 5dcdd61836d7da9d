"""Figures of one run: its learning curves and the distribution of its weights.

They are `matplotlib.figure.Figure` objects made without pyplot, so that training in a script never opens a
window and a notebook shows them inline by displaying the returned figure.
"""

from __future__ import annotations

import numpy as np
from matplotlib.figure import Figure


def learning_curves(history: dict[str, list[float]]) -> Figure:
    """Training and validation loss and accuracy (or MSE) per epoch, and the penalty and weight norms."""
    score = "accuracy" if "accuracy" in history else "mse"
    panels = [("loss", "loss (with penalty)"), (score, score), ("penalty", "penalty and weight norm")]
    figure = Figure(figsize=(12, 3.4))
    figure.subplots_adjust(
        left=0.05, right=0.99, bottom=0.15, top=0.9, wspace=0.22
    )  # a layout engine costs 0.3 s a figure
    epochs = np.arange(1, len(history["loss"]) + 1)
    for axes, (key, title) in zip(figure.subplots(1, 3), panels):
        if key == "penalty":
            axes.plot(epochs, history["penalty"], label="penalty")
            axes.plot(epochs, history["weights_l2"], label="L2 norm of weights")
            axes.set_yscale("symlog", linthresh=1e-3)
        else:
            axes.plot(epochs, history[key], label="training")
            axes.plot(epochs, history[f"val_{key}"], label="validation")
        axes.set_title(title)
        axes.set_xlabel("epoch")
        axes.legend()
    return figure


def weight_histogram(kernels: list[np.ndarray]) -> Figure:
    """A histogram of every kernel weight, on a log count scale so that the tails and the spike at 0 show."""
    weights = np.concatenate([np.ravel(kernel) for kernel in kernels])
    figure = Figure(figsize=(6, 3.4))
    figure.subplots_adjust(left=0.12, right=0.97, bottom=0.15, top=0.9)
    axes = figure.subplots()
    counts, edges = np.histogram(weights, bins=100)
    axes.stairs(counts, edges, fill=True)  # one artist, where `hist` draws a hundred
    axes.set_yscale("log")
    axes.set_xlabel("weight")
    axes.set_ylabel("count")
    axes.set_title(f"{weights.size} kernel weights, {np.mean(np.abs(weights) < 1e-3):.1%} with |w| < 1e-3")
    return figure
