"""The training loop: SGD epochs, validation, checkpoints, resume and DistributedDataParallel."""

from __future__ import annotations

import contextlib
import dataclasses
import math
import os
import random
import time
import warnings
from dataclasses import dataclass, field
from typing import Any, Callable

import numpy as np
import torch
import torch.distributed as dist
import torch.nn.functional as F
import yaml
from torch import nn
from torch.utils.data import DataLoader, DistributedSampler, Subset
from tqdm import tqdm

from common.device import select_device
from common.errors import UserError
from common.fileio import atomic_write
from common.progress import progress_bar
from model import ModelCard, build_model, save_checkpoint

from .config import TrainConfig, resume_changes
from .feeder import SkeletonFeeder
from .finetune import freeze, load_base_weights, recalibrate_batchnorm, set_train_mode
from .metrics import confusion_matrix, save_scores, topk_accuracy, write_metrics_csv
from .optim import build_optimizer, build_scheduler, load_scheduler_state
from .plots import plot_confusion, plot_curves

LAST, BEST = "last.pt", "best.pt"
SCORES, METRICS, LOG = "scores.pkl", "metrics.csv", "log.txt"
CURVES_PNG, CONFUSION_PNG = "curves.png", "confusion.png"


# ---------------------------------------------------------------- processes and devices
@dataclass
class Cluster:
    """This process's place among the DDP processes (one process: rank 0 of 1)."""

    rank: int = 0
    world: int = 1
    local_rank: int = 0

    @property
    def is_main(self) -> bool:
        """Only the main process writes files and shows progress."""
        return self.rank == 0


def join_cluster(device_name: str) -> tuple[Cluster, torch.device]:
    """Join the torchrun process group (NCCL on CUDA, gloo on CPU); pick this process's device."""
    device = select_device(device_name)
    world = int(os.environ.get("WORLD_SIZE", "1"))
    if world == 1:
        return Cluster(), device
    cluster = Cluster(int(os.environ["RANK"]), world, int(os.environ.get("LOCAL_RANK", "0")))
    if device.type == "cuda":
        device = torch.device("cuda", cluster.local_rank)
        torch.cuda.set_device(device)
    if not dist.is_initialized():
        dist.init_process_group("nccl" if device.type == "cuda" else "gloo")
    return cluster, device


def leave_cluster() -> None:
    """Tear the process group down at the end of a distributed run (or when it fails)."""
    if dist.is_available() and dist.is_initialized():
        dist.destroy_process_group()


# ---------------------------------------------------------------- random state
def seed_everything(seed: int) -> None:
    """Seed Python, NumPy and torch (CPU and CUDA) so a run is repeatable."""
    random.seed(seed)
    np.random.seed(seed)
    torch.manual_seed(seed)


def rng_state() -> dict[str, Any]:
    """Every RNG's state in checkpoint-safe types (tensors, lists, numbers)."""
    name, keys, pos, has_gauss, cached = np.random.get_state()
    state = {
        "torch": torch.get_rng_state(),
        "numpy": [name, torch.from_numpy(keys.astype(np.int64)), pos, has_gauss, cached],
        "python": list(random.getstate()),
    }
    if torch.cuda.is_available():
        state["cuda"] = torch.cuda.get_rng_state_all()
    return state


def restore_rng_state(state: dict[str, Any]) -> None:
    """Put back what `rng_state` saved."""
    torch.set_rng_state(state["torch"])
    name, keys, pos, has_gauss, cached = state["numpy"]
    np.random.set_state((name, keys.numpy().astype(np.uint32), pos, has_gauss, cached))
    version, internal, gauss = state["python"]
    random.setstate((version, tuple(internal), gauss))
    if "cuda" in state and torch.cuda.is_available():
        torch.cuda.set_rng_state_all(state["cuda"])


# ---------------------------------------------------------------- one pass over the data
def autocast(device: torch.device, enabled: bool) -> contextlib.AbstractContextManager:
    """float16 autocast on CUDA when mixed precision is on; a no-op otherwise."""
    if enabled and device.type == "cuda":
        return torch.autocast(device.type, dtype=torch.float16)
    return contextlib.nullcontext()


RECALIBRATE_BELOW_STEPS = 50  # training batches an epoch: fewer, and a fresh run recalibrates


class LossExploded(Exception):
    """A loss that is not finite or passed the limit: the run must stop."""

    def __init__(self, where: str, value: float, limit: float) -> None:
        super().__init__(f"the {where} loss is {value:.4g} (limit {limit:.3g})")
        self.where, self.value, self.limit = where, value, limit


class LossGuard:
    """Checks every loss against `factor` times a reference: the larger of the first loss of
    the same kind (training batch, validation) this run saw, and max(ln(classes), 2), a uniform
    guess's loss floored for two or three classes. A fresh network's first loss can be many
    times ln(classes), and its first validation (BatchNorm statistics still far behind the
    weights) far more: a run is judged against where it started, so only a loss that grows
    stops it. A loss that is not finite always stops the run; all DDP processes stop together."""

    def __init__(self, factor: float, classes: int, cluster: Cluster) -> None:
        self.factor = factor
        self.floor = max(math.log(classes), 2.0)
        self.first: dict[str, float] = {}  # kind of loss -> the first finite one seen
        self.cluster = cluster

    def limit(self, where: str) -> float:
        """The largest `where` loss allowed now (inf when the factor is 0: only non-finite)."""
        if self.factor <= 0:
            return math.inf
        return self.factor * max(self.floor, self.first.get(where, 0.0))

    def check(self, where: str, value: float) -> None:
        """Raise LossExploded when `value` (on any process) is not finite or above the limit;
        the first finite loss of each kind becomes that kind's reference."""
        if where not in self.first and math.isfinite(value):
            self.first[where] = value
        limit = self.limit(where)
        bad = not math.isfinite(value) or value > limit
        if self.cluster.world > 1:
            bad = all_sum(self.cluster, float(bad))[0] > 0
        if bad:
            raise LossExploded(where, value, limit)


def train_epoch(
    model: nn.Module,
    loader: DataLoader,
    optimizer: torch.optim.Optimizer,
    scaler: torch.amp.GradScaler,
    device: torch.device,
    amp: bool,
    show: bool,
    guard: LossGuard | None = None,
    train_mode: Callable[[], None] | None = None,
) -> tuple[float, int]:
    """One epoch of SGD; returns (sum of per-sample losses, number of samples) of this process.

    `train_mode` puts the model in training mode (default model.train(); fine-tuning keeps some
    BatchNorm layers in eval); a batch whose loss fails `guard` stops the epoch before its step.
    """
    (train_mode or model.train)()
    loss_sum, count = 0.0, 0
    for x, y, _ in progress_bar(loader, desc="train", leave=False, enabled=show):
        x, y = x.to(device, non_blocking=True), y.to(device, non_blocking=True)
        with autocast(device, amp):
            loss = F.cross_entropy(model(x), y)
        if guard is not None:
            guard.check("training", float(loss.detach()))
        optimizer.zero_grad(set_to_none=True)
        scaler.scale(loss).backward()
        scaler.step(optimizer)
        scaler.update()
        loss_sum += float(loss.detach()) * len(y)
        count += len(y)
    return loss_sum, count


@torch.no_grad()
def predict(
    model: nn.Module, loader: DataLoader, device: torch.device, amp: bool, show: bool
) -> tuple[np.ndarray, np.ndarray, float]:
    """Score every sample in `loader`: (scores (n, classes) float32, dataset indices, loss sum).

    Validation passes the unfused network (eval-mode BatchNorms); train.evaluate the fused one."""
    model.eval()
    scores, indices, loss_sum = [], [], 0.0
    for x, y, index in progress_bar(loader, desc="eval", leave=False, enabled=show):
        x, y = x.to(device, non_blocking=True), y.to(device, non_blocking=True)
        with autocast(device, amp):
            out = model(x).float()
        loss_sum += float(F.cross_entropy(out, y, reduction="sum"))
        scores.append(out.cpu().numpy())
        indices.append(index.numpy())
    classes = getattr(model, "num_class", 0)
    if not scores:
        return np.zeros((0, classes), np.float32), np.zeros(0, np.int64), 0.0
    return np.concatenate(scores), np.concatenate(indices), loss_sum


def gather_predictions(
    cluster: Cluster, scores: np.ndarray, indices: np.ndarray, loss_sum: float
) -> tuple[np.ndarray, float]:
    """Every process's share of the validation set, put back in dataset order (on every process)."""
    if cluster.world > 1:
        parts: list[Any] = [None] * cluster.world
        dist.all_gather_object(parts, (scores, indices, loss_sum))
        scores = np.concatenate([p[0] for p in parts])
        indices = np.concatenate([p[1] for p in parts])
        loss_sum = sum(p[2] for p in parts)
    ordered = np.empty_like(scores)
    ordered[indices] = scores
    return ordered, loss_sum


def share_buffers(cluster: Cluster, model: nn.Module) -> None:
    """Give every process rank 0's BatchNorm statistics: all score the network rank 0 saves."""
    if cluster.world > 1:
        for buffer in model.buffers():
            dist.broadcast(buffer, src=0)


def all_sum(cluster: Cluster, *values: float) -> list[float]:
    """Sum numbers over the processes (identity for one process)."""
    if cluster.world == 1:
        return list(values)
    tensor = torch.tensor(values, dtype=torch.float64)
    dist.all_reduce(tensor)
    return tensor.tolist()


# ---------------------------------------------------------------- the run
@dataclass
class RunState:
    """What changes from epoch to epoch and is saved in every checkpoint."""

    epoch: int = 0  # epochs finished
    history: list[dict[str, float]] = field(default_factory=list)
    best_epoch: int = 0
    best_top1: float = -1.0


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
        return {
            "train": {
                "epoch": self.state.epoch,
                "history": self.state.history,
                "best_epoch": self.state.best_epoch,
                "best_top1": self.state.best_top1,
                "optimizer": self.optimizer.state_dict(),
                "scheduler": self.scheduler.state_dict(),
                "scaler": self.scaler.state_dict(),
                "rng": rng_state(),
                "config": self.config.to_dict(),
            }
        }

    def _save(self, name: str) -> None:
        best = self.state.best_top1
        measured = {
            "accuracy": round(best, 2),
            "accuracy_note": f"validation top-1 at epoch {self.state.best_epoch} of this run",
        }
        card = dataclasses.replace(self.card, **measured) if best >= 0 else self.card
        save_checkpoint(self.work_dir / name, self.model, card, extra=self._checkpoint_extra())

    def _resume(self) -> None:
        """Continue from last.pt: weights, optimiser, schedule, scaler, RNG and metrics history."""
        path = self.work_dir / LAST
        try:
            data = torch.load(path, map_location="cpu", weights_only=True)
            saved = data["train"]
        except Exception:  # torch and a missing key both mean this is not our last.pt
            raise UserError(
                f"{path} is not a training checkpoint of train.run; start without --resume"
            ) from None
        saved_classes = int(data["state_dict"]["fc.weight"].shape[0])
        if saved_classes != self.config.classes:
            raise UserError(
                f"{path} has {saved_classes} classes but this run has {self.config.classes}; "
                "resume with the same config"
            )
        changed = resume_changes(saved.get("config") or {}, self.config)
        if changed:
            raise UserError(
                f"--resume: this run was started with other settings ({'; '.join(changed)}); "
                "resume with those, or start a new run in another --work-dir"
            )
        try:
            self.model.load_state_dict(data["state_dict"])
        except RuntimeError:
            raise UserError(
                f"{path} was trained with another model config; resume with the same config"
            ) from None
        self.optimizer.load_state_dict(saved["optimizer"])
        load_scheduler_state(self.scheduler, saved["scheduler"])
        self.scaler.load_state_dict(saved["scaler"])
        restore_rng_state(saved["rng"])
        self.state = RunState(
            saved["epoch"], list(saved["history"]), saved["best_epoch"], saved["best_top1"]
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
