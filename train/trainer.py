"""The training run: the epochs of one configuration in its work dir (train, validate, write the
checkpoints, metrics and plots), resuming if asked. Its parts: train.distributed (processes),
train.epoch (one epoch's passes and the loss guard), train.checkpointing (RNG, state, resume)."""

from __future__ import annotations

import dataclasses
import os
import time
import warnings
from typing import Any, Callable

import numpy as np
import torch
import yaml
from torch import nn
from torch.utils.data import DataLoader, DistributedSampler, Subset
from tqdm import tqdm

from common.errors import UserError
from common.fileio import atomic_write
from common.progress import progress_bar
from model import ModelCard, build_model, save_checkpoint

from .checkpointing import RunState, resume, seed_everything, training_state
from .config import TrainConfig
from .distributed import all_sum, gather_predictions, join_cluster, leave_cluster, share_buffers
from .epoch import LossExploded, LossGuard, predict, train_epoch
from .feeder import SkeletonFeeder
from .finetune import freeze, load_base_weights, recalibrate_batchnorm, set_train_mode
from .metrics import confusion_matrix, save_scores, topk_accuracy, write_metrics_csv
from .optim import build_optimizer, build_scheduler
from .plots import plot_confusion, plot_curves

LAST, BEST = "last.pt", "best.pt"
SCORES, METRICS, LOG = "scores.pkl", "metrics.csv", "log.txt"
CURVES_PNG, CONFUSION_PNG = "curves.png", "confusion.png"


RECALIBRATE_BELOW_STEPS = 50  # training batches an epoch: fewer, and a fresh run recalibrates


class Trainer:
    """Trains one configuration in its work dir; `run()` does the epochs, resuming if asked."""

    def __init__(
        self, config: TrainConfig, resume: bool = False, card: ModelCard | None = None
    ) -> None:
        self.config = config
        self.card = card or config.model_card()  # what the checkpoints say of their input
        self.cluster, self.device = join_cluster(config.device)
        self.amp = config.amp and self.device.type == "cuda"
        self.work_dir = config.work_path
        self.show = self.cluster.is_main
        self._check_work_dir(resume)
        seed_everything(config.seed)
        self.train_set = SkeletonFeeder(config.data_path, "train", config.stream)
        self.val_set = SkeletonFeeder(config.data_path, "val", config.stream)
        self._check_labels()
        self.class_names = config.resolved_class_names()
        self.model = build_model(config.model_config())
        if config.base_weights and not resume:
            load_base_weights(self.model, config.base_weights, config.stream)
        freeze(self.model, config.frozen_units)
        self.model.to(self.device)
        self.guard = LossGuard(config.loss_limit, config.classes, self.cluster)
        self.net = self._wrap(self.model)
        self.optimizer = build_optimizer(self.model, config)
        self.scheduler = build_scheduler(self.optimizer, config)
        self.scaler = torch.amp.GradScaler("cuda", enabled=self.amp)
        self.train_loader, self.sampler = self._train_loader()
        # From random weights with few steps an epoch, the BatchNorms' running statistics lag
        # the fast-moving weights and validation sits at chance while training learns: they
        # are re-estimated over the (small) training set before each validation
        self.fresh_and_small = (
            not config.base_weights and len(self.train_loader) < RECALIBRATE_BELOW_STEPS
        )
        self.val_loader = self._val_loader()
        self.state = RunState()
        if resume:
            self._resume()

    # ------------------------------------------------------------ setup
    def _check_work_dir(self, resume: bool) -> None:
        """Refuse to overwrite a run, or to resume one that is not there."""
        last = self.work_dir / LAST
        if resume and not last.is_file():
            raise UserError(f"--resume: {last} does not exist; start without --resume")
        if not resume and last.is_file():
            raise UserError(
                f"{self.work_dir} already holds a run ({LAST}); add --resume to continue it "
                "or give another --work-dir"
            )

    def _check_labels(self) -> None:
        """Labels must fit the network's classes and the batch must fit the data."""
        top = int(max(self.train_set.labels.max(initial=0), self.val_set.labels.max(initial=0)))
        if top >= self.config.classes:
            raise UserError(
                f"{self.config.data_path} has labels up to {top} but the model has "
                f"{self.config.classes} classes; set --num-class or use the config of that dataset"
            )
        if len(self.train_set) < self.config.batch_size:
            raise UserError(
                f"the training split has {len(self.train_set)} samples, fewer than one batch "
                f"({self.config.batch_size}); lower --batch-size"
            )
        if self.config.batch_size % self.cluster.world:
            raise UserError(
                f"batch size {self.config.batch_size} does not divide among "
                f"{self.cluster.world} processes"
            )

    def _wrap(self, model: nn.Module) -> nn.Module:
        """DistributedDataParallel around the model when there are several processes."""
        if self.cluster.world == 1:
            return model
        # The 1x1 convolutions' weight gradients differ from their buckets only in the strides of
        # size-1 dimensions (the same memory layout); PyTorch still warns on every process.
        warnings.filterwarnings("ignore", message="Grad strides do not match bucket view strides")
        ids = [self.device.index] if self.device.type == "cuda" else None
        return nn.parallel.DistributedDataParallel(model, device_ids=ids)

    def _loader_options(self) -> dict[str, Any]:
        workers = min(self.config.num_workers, os.cpu_count() or 1)
        return {
            "num_workers": workers,
            "pin_memory": self.device.type == "cuda",
            "persistent_workers": workers > 0,
        }

    def _train_loader(self) -> tuple[DataLoader, DistributedSampler]:
        """Shuffled by seed and epoch only (so a resumed run sees the same order), split by rank."""
        sampler = DistributedSampler(
            self.train_set,
            num_replicas=self.cluster.world,
            rank=self.cluster.rank,
            shuffle=True,
            seed=self.config.seed,
            drop_last=True,
        )
        loader = DataLoader(
            self.train_set,
            batch_size=self.config.batch_size // self.cluster.world,
            sampler=sampler,
            drop_last=True,
            **self._loader_options(),
        )
        return loader, sampler

    def _val_loader(self) -> DataLoader:
        """Every process scores every world-th validation sample; nothing is padded or repeated."""
        share = Subset(
            self.val_set, range(self.cluster.rank, len(self.val_set), self.cluster.world)
        )
        return DataLoader(
            share, batch_size=self.config.test_batch_size, shuffle=False, **self._loader_options()
        )

    # ------------------------------------------------------------ checkpoints
    def _checkpoint_extra(self) -> dict[str, Any]:
        return training_state(self.state, self.optimizer, self.scheduler, self.scaler, self.config)

    def _save(self, name: str) -> None:
        best = self.state.best_top1
        measured = {
            "accuracy": round(best, 2),
            "accuracy_note": f"validation top-1 at epoch {self.state.best_epoch} of this run",
        }
        card = dataclasses.replace(self.card, **measured) if best >= 0 else self.card
        save_checkpoint(self.work_dir / name, self.model, card, extra=self._checkpoint_extra())

    def _resume(self) -> None:
        """Continue from last.pt (train.checkpointing.resume)."""
        path = self.work_dir / LAST
        self.state = resume(
            path, self.config, self.model, self.optimizer, self.scheduler, self.scaler
        )
        self.log(f"resumed from {path} after epoch {self.state.epoch}")

    # ------------------------------------------------------------ output
    def log(self, message: str, console: bool = True) -> None:
        """A line in the work dir's log.txt and, unless told not to, on the console (above the
        progress bars)."""
        if not self.cluster.is_main:
            return
        line = f"{time.strftime('%Y-%m-%d %H:%M:%S')} {message}"
        if console:
            tqdm.write(line)
        with (self.work_dir / LOG).open("a") as f:
            f.write(line + "\n")

    def _write_start(self) -> None:
        """Create the work dir and record the exact config this run uses."""
        if not self.cluster.is_main:
            return
        self.work_dir.mkdir(parents=True, exist_ok=True)
        with atomic_write(self.work_dir / "config.yaml") as tmp:
            tmp.write_text(yaml.safe_dump(self.config.to_dict(), sort_keys=False))

    def _write_epoch(self, row: dict[str, float], scores: np.ndarray) -> None:
        """Checkpoints, best-epoch scores and confusion matrix, metrics table and curves."""
        improved = row["top1"] > self.state.best_top1
        if improved:
            self.state.best_top1, self.state.best_epoch = row["top1"], int(row["epoch"])
        self.state.history.append(row)
        if not self.cluster.is_main:
            return
        if improved:
            self._save(BEST)
            save_scores(self.work_dir / SCORES, self.val_set.names, scores)
            matrix = confusion_matrix(scores.argmax(1), self.val_set.labels, self.config.classes)
            title = f"{self.config.describe()}; epoch {row['epoch']}, top-1 {row['top1']:.2f}%"
            plot_confusion(matrix, self.class_names, self.work_dir / CONFUSION_PNG, title)
        self._save(LAST)
        self._write_tables()

    def _write_tables(self) -> None:
        write_metrics_csv(self.work_dir / METRICS, self.state.history)
        plot_curves(self.state.history, self.work_dir / CURVES_PNG)

    # ------------------------------------------------------------ epochs
    def _epoch(self, epoch: int) -> tuple[dict[str, float], np.ndarray]:
        """Train one epoch, then validate; returns the metrics row and the validation scores."""
        start = time.perf_counter()
        self.sampler.set_epoch(epoch)
        lr = self.optimizer.param_groups[0]["lr"]
        config = self.config
        loss_sum, count = train_epoch(
            self.net,
            self.train_loader,
            self.optimizer,
            self.scaler,
            self.device,
            self.amp,
            self.show,
            self.guard,
            lambda: set_train_mode(self.model, config.frozen_units, config.batchnorm),
        )
        self.scheduler.step()
        loss_sum, count = all_sum(self.cluster, loss_sum, count)
        if config.batchnorm == "recalibrate" or self.fresh_and_small:
            recalibrate_batchnorm(self.model, config.frozen_units, self.train_loader, self.device)
        share_buffers(self.cluster, self.model)
        scores, indices, val_loss = predict(
            self.model, self.val_loader, self.device, self.amp, self.show
        )
        scores, val_loss = gather_predictions(self.cluster, scores, indices, val_loss)
        labels = self.val_set.labels
        self.guard.check("validation", val_loss / max(len(labels), 1))
        row = {
            "epoch": epoch + 1,
            "train_loss": loss_sum / count,
            "val_loss": val_loss / max(len(labels), 1),
            "top1": topk_accuracy(scores, labels, 1),
            "top5": topk_accuracy(scores, labels, 5),
            "lr": lr,
            "seconds": round(time.perf_counter() - start, 3),
        }
        return row, scores

    def _stopped(self, epoch: int, err: LossExploded) -> str:
        """The one line that ends a run whose loss exploded (also written to log.txt)."""
        lr = self.optimizer.param_groups[0]["lr"]
        kept = (
            f"{self.work_dir / BEST} and {LAST} keep epoch {self.state.best_epoch} and "
            f"{self.state.epoch}"
            if self.state.epoch
            else "no checkpoint was written"
        )
        line = (
            f"training stopped in epoch {epoch + 1}: {err} at learning rate {lr:.4g}; {kept}; "
            f"lower base_lr (e.g. --set base_lr={self.config.base_lr / 10:.3g}) or raise "
            "warmup_epochs"
        )
        self.log(line, console=False)  # the console gets it once, as the command's error
        return line

    def run(self, on_epoch: Callable[[dict[str, float]], None] | None = None) -> RunState:
        """Train the remaining epochs; each one writes the work dir's files (main process only)
        and then calls `on_epoch` with its metrics row (a GUI's progress)."""
        self._write_start()
        config = self.config
        self.log(
            f"{config.describe()}; {len(self.train_set)} train / {len(self.val_set)} val "
            f"samples, device {self.device}"
            + (f", {self.cluster.world} processes" if self.cluster.world > 1 else "")
            + (", mixed precision" if self.amp else "")
        )
        if config.amp and not self.amp:
            self.log("--amp needs CUDA; training in float32")
        if self.cluster.is_main and self.state.history:
            self._write_tables()
        epochs = range(self.state.epoch, config.epochs)
        for epoch in progress_bar(epochs, desc="epochs", enabled=self.show):
            try:
                row, scores = self._epoch(epoch)
            except LossExploded as err:
                raise UserError(self._stopped(epoch, err)) from None
            self.state.epoch = epoch + 1
            self._write_epoch(row, scores)
            self.log(
                f"epoch {epoch + 1}/{config.epochs}: train loss {row['train_loss']:.4f}, "
                f"val loss {row['val_loss']:.4f}, top-1 {row['top1']:.2f}%, "
                f"top-5 {row['top5']:.2f}%, "
                f"lr {row['lr']:.4g}, {row['seconds']:.1f}s"
            )
            if on_epoch is not None:
                on_epoch(row)
        self.log(
            f"best top-1 {self.state.best_top1:.2f}% at epoch {self.state.best_epoch}; "
            f"files in {self.work_dir}"
        )
        return self.state


def train(
    config: TrainConfig,
    resume: bool = False,
    on_epoch: Callable[[dict[str, float]], None] | None = None,
    card: ModelCard | None = None,
) -> RunState:
    """Train `config` (inside torchrun: as one of its processes) and return the final run state;
    `on_epoch(row)` follows each epoch. `card`: the checkpoints' model card (default:
    config.model_card(), NTU's input)."""
    try:
        return Trainer(config, resume=resume, card=card).run(on_epoch)
    finally:
        leave_cluster()
