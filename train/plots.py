"""PNG plots of training curves and confusion matrices (matplotlib's Agg backend, no display)."""

from __future__ import annotations

import textwrap
from pathlib import Path

import matplotlib

matplotlib.use("Agg")
import matplotlib.pyplot as plt  # noqa: E402  (after choosing the backend)
import numpy as np  # noqa: E402

from common.fileio import atomic_write  # noqa: E402


def save_figure(fig: plt.Figure, path: Path) -> None:
    """Write a figure as PNG atomically and free it."""
    with atomic_write(path) as tmp:
        fig.savefig(tmp, format="png", dpi=110)
    plt.close(fig)


def plot_curves(rows: list[dict[str, float]], path: Path) -> None:
    """Loss, accuracy and learning rate against epoch, from the metrics rows."""
    epochs = [r["epoch"] for r in rows]
    fig, (ax_loss, ax_acc, ax_lr) = plt.subplots(1, 3, figsize=(13, 3.8))
    ax_loss.plot(epochs, [r["train_loss"] for r in rows], marker=".", label="train")
    ax_loss.plot(epochs, [r["val_loss"] for r in rows], marker=".", label="val")
    ax_loss.set(title="loss", xlabel="epoch")
    ax_loss.legend()
    ax_acc.plot(epochs, [r["top1"] for r in rows], marker=".", label="top-1")
    ax_acc.plot(epochs, [r["top5"] for r in rows], marker=".", label="top-5")
    ax_acc.set(title="validation accuracy (%)", xlabel="epoch", ylim=(0, 100))
    ax_acc.legend()
    ax_lr.plot(epochs, [r["lr"] for r in rows], marker=".")
    ax_lr.set(title="learning rate", xlabel="epoch", yscale="log")
    for ax in (ax_loss, ax_acc, ax_lr):
        ax.grid(alpha=0.3)
    fig.tight_layout()
    save_figure(fig, path)


def plot_confusion(
    matrix: np.ndarray, class_names: list[str] | None, path: Path, title: str
) -> None:
    """A row-normalised confusion matrix (true label down, prediction across)."""
    num_class = len(matrix)
    rates = matrix / np.maximum(matrix.sum(axis=1, keepdims=True), 1)
    size = min(4 + 0.16 * num_class, 24)
    fig, ax = plt.subplots(figsize=(size, size))
    image = ax.imshow(rates, cmap="Blues", vmin=0, vmax=1)
    fig.colorbar(image, ax=ax, fraction=0.046, pad=0.04)
    labels = class_names or [str(i) for i in range(num_class)]
    ticks = np.arange(num_class)
    fontsize = 8 if num_class <= 30 else 5
    ax.set_xticks(ticks, labels, rotation=90, fontsize=fontsize)
    ax.set_yticks(ticks, labels, fontsize=fontsize)
    ax.set(xlabel="predicted", ylabel="true")
    ax.set_title("\n".join(textwrap.wrap(title, int(9 * size))), fontsize=10)  # fits the figure
    fig.tight_layout()
    save_figure(fig, path)
