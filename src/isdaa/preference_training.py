"""Preference training of one grid cell.

A `transformers.Trainer` whose loss comes from `isdaa.losses`. Reference log-probs are
read from the shared artifact (computed once per preference set), so no cell holds
a reference model or runs a reference forward pass. Checkpoints live outside the
rule's declared outputs, and a rerun resumes from the last one.

`training.batch_size` is the global batch: the pairs of one optimiser step, however the
cell runs. In one process without gradient accumulation (the toy's set-up) the trainer
is transformers' own. Split over processes (`isdaa.distributed`) or accumulation passes,
each step still takes the same global batch as one process would, and its gradient is
the mean over that batch's pairs, the last (short) batch of an epoch included; see
`GlobalBatches` and `PreferenceTrainer.compute_loss`. (With `is_normalize: batch_mean`
the importance weights are normalised per forward pass, so that method alone depends on
the split.)
"""

from __future__ import annotations

import itertools
import json
import logging
import math
import shutil
from collections import defaultdict
from pathlib import Path

import numpy as np
import pandas as pd
import torch
from transformers import Trainer, TrainerCallback, TrainingArguments
from trl.trainer.dpo_trainer import DataCollatorForPreference

from isdaa import distributed, modeling
from isdaa.config import snapshot_epochs
from isdaa.layout import snapshot_name
from isdaa.io import read_yaml, require_columns, write_csv
from isdaa.logprobs import completion_logps
from isdaa.losses import LossSpec, preference_loss
from isdaa.runtime import device, use_bf16

log = logging.getLogger(__name__)

SECTION = "preference_training"
BEHAVIOR_KEYS = ("behavior_chosen_logps", "behavior_rejected_logps")
BEHAVIOR_COLUMNS = ("behavior_chosen_logp", "behavior_rejected_logp")
# `behavior` of a cell: the pairs' recorded behaviour log-probs, or the reference policy
# as the behaviour policy (the authors' choice for a set that records none).
BEHAVIORS = ("recorded", "reference")
# A cell's `execution` section: how it runs, not what it computes (see isdaa.config.EXECUTION_KEYS).
EXECUTION_DEFAULTS = {"per_device_batch_size": None, "logging_steps": 10, "save_steps": 100, "report_to": [],
                      "distributed": "ddp", "activation_checkpointing": False, "logging_dir": None}
# Rows of a global batch carry these (see GlobalBatches): the pair's weight (0 for a
# filler row) and the number of pairs in the global batch.
PAIR_WEIGHT, GLOBAL_PAIRS = "pair_weight", "global_pairs"
TRAIN_LOG_COLUMNS = [
    "step", "epoch", "train_loss", "rewards_chosen", "rewards_rejected", "rewards_margin", "rewards_accuracy",
    "logps_chosen", "logps_rejected", "is_weight_mean", "is_weight_max", "is_clipped_fraction", "grad_norm", "lr",
]
MAX_METRICS = ("is_weight_max",)  # a step's maximum; every other metric is a step's mean over pairs


class PreferenceCollator(DataCollatorForPreference):
    """TRL's collator (chosen rows above rejected rows, right padded), carrying the
    behaviour log-probs and the global-batch weights through as well."""

    def torch_call(self, examples):
        batch = super().torch_call(examples)
        for key in (*BEHAVIOR_KEYS, PAIR_WEIGHT):
            if key in examples[0]:
                batch[key] = torch.tensor([e[key] for e in examples], dtype=torch.float32)
        if GLOBAL_PAIRS in examples[0]:
            batch[GLOBAL_PAIRS] = torch.tensor([e[GLOBAL_PAIRS] for e in examples], dtype=torch.float32)
        return batch


class GlobalBatches(torch.utils.data.Sampler):
    """This process's micro-batches of the global batches one process would train on.

    The pair order is `sampler`'s: accelerate's seeded sampler (seed: the cell's data seed
    plus the epoch), the one transformers' own one-process loader draws from, so every
    split sees the same global batches in the same order. Each global batch (`global_batch`
    pairs; the last of an epoch may be short) is cut into world x accumulation parts as
    evenly as they go; process r takes parts r, r + world, ... (one per accumulation pass).
    An empty part becomes one filler row of weight 0, so that every process runs every pass.

    Yields lists of (index, weight, pairs in the global batch), which `WeightedPairs` reads."""

    def __init__(self, sampler, global_batch: int, world: int, rank: int, accumulation: int):
        # No `batch_size` attribute: accelerate's wrapper would take the batches for
        # fixed-size ones and refill the short ones with pairs from the epoch's start.
        self.sampler, self.global_batch = sampler, global_batch
        self.world, self.rank, self.accumulation = world, rank, accumulation

    def __len__(self):
        return math.ceil(len(self.sampler) / self.global_batch) * self.accumulation

    def __iter__(self):
        order = list(self.sampler)
        parts = self.world * self.accumulation
        for start in range(0, len(order), self.global_batch):
            batch = order[start:start + self.global_batch]
            # Part sizes differ by one at most: the first len % parts parts get one more.
            small, larger = divmod(len(batch), parts)
            bounds = [0, *itertools.accumulate(small + (j < larger) for j in range(parts))]
            for k in range(self.accumulation):
                j = k * self.world + self.rank
                part = batch[bounds[j]:bounds[j + 1]]
                yield [(i, 1.0, len(batch)) for i in part] or [(batch[0], 0.0, len(batch))]


class WeightedPairs(torch.utils.data.Dataset):
    """The pairs, each row with its weight and its global batch's size (keys from `GlobalBatches`)."""

    def __init__(self, pairs):
        self.pairs = pairs

    def __len__(self):
        return len(self.pairs)

    def __getitem__(self, key):
        index, weight, pairs = key
        return {**self.pairs[int(index)], PAIR_WEIGHT: weight, GLOBAL_PAIRS: pairs}

    def __getitems__(self, keys):
        rows = self.pairs.__getitems__([int(k[0]) for k in keys])
        return [{**row, PAIR_WEIGHT: weight, GLOBAL_PAIRS: pairs} for row, (_, weight, pairs) in zip(rows, keys)]


class PreferenceTrainer(Trainer):
    """`exact`: the global-batch path (several processes or accumulation passes); else
    transformers' own loader and a mean loss per batch."""

    def __init__(self, *args, loss_spec: LossSpec, method: str, disallowed_token_ids: list[int],
                 exact: bool = False, **kwargs):
        super().__init__(*args, **kwargs)
        self.loss_spec = loss_spec
        self.method = method
        self.disallowed_token_ids = disallowed_token_ids
        self.exact = exact
        self._metrics = defaultdict(list)
        # exact path: {step: {metric: this process's share of the step's value}}
        self._step_metrics = defaultdict(dict)
        if exact:
            # compute_loss scales for the accumulation passes itself (see there).
            self.loss_is_scaled_for_ga = True

    def get_train_dataloader(self):
        if not self.exact:
            return super().get_train_dataloader()
        from accelerate.data_loader import SeedableRandomSampler

        batches = GlobalBatches(SeedableRandomSampler(self.train_dataset, data_seed=self.args.data_seed),
                                self.args.per_device_train_batch_size * self.args.gradient_accumulation_steps
                                * self.args.world_size, self.args.world_size, self.args.process_index,
                                self.args.gradient_accumulation_steps)
        loader = torch.utils.data.DataLoader(
            WeightedPairs(self.train_dataset), batch_sampler=batches, collate_fn=self.data_collator,
            num_workers=0, pin_memory=self.args.dataloader_pin_memory)
        prepared = self.accelerator.prepare(loader)
        # accelerate wraps a batch sampler to deal its batches out over the processes;
        # these are dealt out already: make the wrapper pass them through (as transformers
        # does for its own rank-aware BatchRebalanceSampler).
        wrapper = getattr(prepared, "batch_sampler", None)
        if wrapper is not batches and getattr(wrapper, "batch_sampler", None) is batches:
            wrapper.num_processes, wrapper.process_index = 1, 0
        return prepared

    def compute_loss(self, model, inputs, return_outputs=False, num_items_in_batch=None):
        logps = completion_logps(
            model, inputs["input_ids"], inputs["attention_mask"], inputs["completion_mask"], self.disallowed_token_ids
        )
        pc, pr = logps.chunk(2)
        # Response tokens, end token included (the collator marks them in completion_mask).
        chosen_lengths, rejected_lengths = inputs["completion_mask"].sum(1).chunk(2)
        out = preference_loss(
            self.loss_spec, pc, pr, inputs["ref_chosen_logps"], inputs["ref_rejected_logps"],
            inputs.get("behavior_chosen_logps"), inputs.get("behavior_rejected_logps"),
            chosen_lengths, rejected_lengths,
        )
        if self.exact:
            # This pass's share of the global batch's mean loss: sum over its pairs / pairs
            # in the global batch. Summed over the passes (no division by the accumulation
            # steps: loss_is_scaled_for_ga) and averaged over processes by DDP (hence x
            # world), the gradient is the mean over the global batch however it is split.
            weight, pairs = inputs[PAIR_WEIGHT], inputs[GLOBAL_PAIRS][0]
            loss = (weight * out.losses).sum() * (self.args.world_size / pairs)
        else:
            loss = out.loss
        if not torch.isfinite(loss):
            raise FloatingPointError(
                f"method {self.method!r}: non-finite loss {loss.item()} at step {self.state.global_step + 1}; "
                f"the last good checkpoint is kept in {self.args.output_dir}"
            )
        beta = self.loss_spec.beta
        chosen_rewards = beta * (pc - inputs["ref_chosen_logps"]).detach()
        rejected_rewards = beta * (pr - inputs["ref_rejected_logps"]).detach()
        if self.exact:
            self._record_shares(inputs[PAIR_WEIGHT], inputs[GLOBAL_PAIRS][0], {
                "rewards_chosen": chosen_rewards, "rewards_rejected": rejected_rewards,
                "rewards_margin": chosen_rewards - rejected_rewards,
                "rewards_accuracy": (chosen_rewards > rejected_rewards).float(),
                "logps_chosen": pc.detach(), "logps_rejected": pr.detach(), "is_weight_mean": out.weights,
                "is_weight_max": out.weights, "is_clipped_fraction": out.clipped.float()})
            return (loss, out) if return_outputs else loss
        m = self._metrics
        m["rewards_chosen"].append(chosen_rewards.mean().item())
        m["rewards_rejected"].append(rejected_rewards.mean().item())
        m["rewards_margin"].append((chosen_rewards - rejected_rewards).mean().item())
        m["rewards_accuracy"].append((chosen_rewards > rejected_rewards).float().mean().item())
        m["logps_chosen"].append(pc.detach().mean().item())
        m["logps_rejected"].append(pr.detach().mean().item())
        m["is_weight_mean"].append(out.weights.mean().item())
        m["is_weight_max"].append(out.weights.max().item())
        m["is_clipped_fraction"].append(out.clipped.float().mean().item())
        return (loss, out) if return_outputs else loss

    def _record_shares(self, weight, pairs, values: dict):
        """Add this pass's share of each per-pair metric to its step's: sum(weight x value) /
        pairs in the global batch (the maximum over its real pairs for MAX_METRICS)."""
        step = self._step_metrics[self.state.global_step]
        real = weight > 0
        for key, value in values.items():
            value = value.detach().float()
            if key in MAX_METRICS:
                share = value[real].max().item() if real.any() else -math.inf
                step[key] = max(step.get(key, -math.inf), share)
            else:
                step[key] = step.get(key, 0.0) + ((weight * value).sum() / pairs).item()

    def _step_means(self) -> dict:
        """The recorded steps' metrics, summed (maxima: maximised) over processes, then
        averaged over the steps: the same per-step means over pairs as one process logs.
        Every process calls this at each log (each has run every step)."""
        steps = sorted(self._step_metrics)
        self._step_metrics, recorded = defaultdict(dict), self._step_metrics
        if not steps:
            return {}
        keys = sorted(recorded[steps[0]])
        means = [k for k in keys if k not in MAX_METRICS]
        maxima = [k for k in keys if k in MAX_METRICS]
        sums = torch.tensor([[recorded[s][k] for k in means] for s in steps], dtype=torch.float64,
                            device=self.args.device)
        tops = torch.tensor([[recorded[s][k] for k in maxima] for s in steps], dtype=torch.float64,
                            device=self.args.device)
        if self.args.world_size > 1:
            torch.distributed.all_reduce(sums, op=torch.distributed.ReduceOp.SUM)
            torch.distributed.all_reduce(tops, op=torch.distributed.ReduceOp.MAX)
        out = dict(zip(means, sums.mean(0).tolist()))
        out.update(zip(maxima, tops.mean(0).tolist()))
        return out

    def log(self, logs, start_time=None):
        # Per-step values averaged over the logging window, like TRL's trainers.
        if self.exact:
            logs.update(self._step_means())
        logs.update({k: float(np.mean(v)) for k, v in self._metrics.items() if v})
        self._metrics.clear()
        super().log(logs, start_time)


class Snapshots(TrainerCallback):
    """Save the policy every 1/per_epoch of an epoch, for the training-dynamics
    evaluation. Snapshots go next to the checkpoints, outside the rule's outputs, so
    a resumed run keeps the ones it already made.

    Saved in on_step_end, which transformers runs before it writes that step's
    checkpoint: a run killed in between resumes before the snapshot, never after it.
    Every process runs this (see `isdaa.distributed.save_policy`)."""

    def __init__(self, folder: Path, trainer: Trainer, epochs: list[float]):
        self.folder, self.trainer, self.pending = folder, trainer, list(epochs)
        self.last = 0.0

    def on_train_begin(self, args, state, control, **kwargs):
        self.last = state.epoch or 0.0  # a resumed run starts where its checkpoint was

    def on_step_end(self, args, state, control, model=None, **kwargs):
        # The first step at or past each snapshot's point; points behind the resumed
        # checkpoint were saved by the run that made the checkpoint.
        while self.pending and self.pending[0] <= state.epoch + 1e-9:
            epoch = self.pending.pop(0)
            if epoch > self.last + 1e-9:
                path = self.folder / snapshot_name(epoch)
                distributed.save_policy(self.trainer, path)
                if state.is_world_process_zero:
                    (path / "snapshot.json").write_text(json.dumps({"epoch": epoch, "step": state.global_step}))
        self.last = state.epoch


def load_pairs(preferences_path, reference_logps_path, behavior: bool = True) -> "datasets.Dataset":  # noqa: F821
    """Pairs as the token ids they were sampled (or tokenised) as, joined with the shared
    reference log-probs (by pair_id): the reference pass scored exactly these ids.
    `behavior`: carry the pairs' behaviour log-probs where the set has them."""
    from datasets import Dataset

    prefs = pd.read_parquet(preferences_path)
    require_columns(prefs, ["pair_id", "prompt_ids", "chosen_ids", "rejected_ids"], preferences_path)
    ref = pd.read_parquet(reference_logps_path)
    require_columns(ref, ["pair_id", "reference_chosen_logp", "reference_rejected_logp"], reference_logps_path)
    data = prefs.merge(ref, on="pair_id", how="left", validate="one_to_one")
    missing = data.loc[data["reference_chosen_logp"].isna(), "pair_id"]
    if len(missing):
        raise ValueError(
            f"{reference_logps_path}: no reference log-probs for {len(missing)} pair(s) of {preferences_path}, "
            f"e.g. pair_id {missing.iloc[0]}; rerun the reference_logps rule"
        )
    records = {key: [list(map(int, ids)) for ids in data[key]] for key in ("prompt_ids", "chosen_ids", "rejected_ids")}
    records["ref_chosen_logps"] = data["reference_chosen_logp"].astype("float32").tolist()
    records["ref_rejected_logps"] = data["reference_rejected_logp"].astype("float32").tolist()
    if behavior and set(BEHAVIOR_COLUMNS) <= set(data.columns):
        records["behavior_chosen_logps"] = data["behavior_chosen_logp"].astype("float32").tolist()
        records["behavior_rejected_logps"] = data["behavior_rejected_logp"].astype("float32").tolist()
    return Dataset.from_dict(records)


def last_checkpoint(checkpoint_dir) -> str | None:
    """The newest complete checkpoint. transformers writes trainer_state.json last, so a
    folder without a readable one was cut short by a kill or preemption and is skipped."""
    paths = sorted(Path(checkpoint_dir).glob("checkpoint-*[0-9]"), key=lambda p: int(p.name.split("-")[1]))
    for path in reversed(paths):
        try:
            json.loads((path / "trainer_state.json").read_text())
        except (OSError, ValueError):
            log.warning("skipping incomplete checkpoint %s", path)
            continue
        return str(path)
    return None


def behavior_used(cell: dict, preferences_path) -> str:
    """Which behaviour policy the cell's importance weights use: "recorded" (the pairs'
    behaviour log-probs), "reference" (the reference policy's), or "none" (the method
    has no importance sampling). Raises ValueError for a recorded behaviour the pairs lack."""
    behavior = cell.get("behavior", "recorded")
    if behavior not in BEHAVIORS:
        raise ValueError(f"cell {cell['name']}: behavior must be one of {list(BEHAVIORS)}, got {behavior!r} "
                         f"(preference_data.behavior)")
    if cell["loss"].get("is_eps") is None:
        return "none"
    if behavior == "recorded":
        import pyarrow.parquet as pq

        columns = set(pq.read_schema(preferences_path).names)
        if not set(BEHAVIOR_COLUMNS) <= columns:
            raise ValueError(
                f"{preferences_path}: the pairs carry no behaviour log-probs ({', '.join(BEHAVIOR_COLUMNS)}), "
                f"which method {cell['method']!r} (importance sampling) reads; set preference_data.behavior: "
                f"reference to take the reference policy as the behaviour policy")
    return behavior


def cell_execution(cell: dict) -> dict:
    """The cell's `execution` section over its defaults. Execution keys left under
    `training` (a config.yaml written before they moved) are refused: silently ignoring
    them would change how the cell trains."""
    moved = sorted(set(cell["training"]) & {*EXECUTION_DEFAULTS, "gradient_accumulation_steps"})
    if moved:
        raise ValueError(
            f"cell {cell['name']}: training.{moved[0]} is no longer a training setting: batch_size is the global "
            f"batch (pairs per optimiser step) and per_device_batch_size, logging_steps, save_steps, report_to "
            f"and distributed go under the cell's `execution` section (gradient accumulation follows from "
            f"them); move or remove {', '.join(moved)}")
    unknown = sorted(set(cell.get("execution") or {}) - set(EXECUTION_DEFAULTS))
    if unknown:
        raise ValueError(f"cell {cell['name']}: unknown execution setting(s) {unknown}; known: "
                         f"{sorted(EXECUTION_DEFAULTS)}")
    return {**EXECUTION_DEFAULTS, **(cell.get("execution") or {})}


def tensorboard_dir(cell: dict, execution: dict) -> str:
    """Where TensorBoard logs go: the execution section's logging_dir (the workflow's
    results/<task>/tensorboard/<cell>/), else beside the cell's checkpoints."""
    return execution["logging_dir"] or str(Path(cell["paths"]["checkpoints"]).parent / "tensorboard")


def build_trainer(cell: dict) -> PreferenceTrainer:
    """The trainer of one cell, from its resolved configuration (see `isdaa.config.cell_config`)."""
    paths, training = cell["paths"], cell["training"]
    spec = LossSpec(**cell["loss"])
    execution = cell_execution(cell)
    # Fail on what would only fail later (a split, a tracker, the pairs) before loading the model.
    world = distributed.world_size()
    per_device, accumulation = distributed.accumulation(
        training["batch_size"], execution["per_device_batch_size"], world, SECTION)
    report_to = distributed.check_report_to(execution["report_to"], f"{SECTION}.report_to")
    if world > 1:
        distributed.check_distributed(execution["distributed"], f"{SECTION}.distributed")
    exact = world > 1 or accumulation > 1
    if exact and spec.is_normalize == "batch_mean":
        log.warning("method %s: is_normalize batch_mean normalises the importance weights over each pass of %d "
                    "pairs, not over the global batch of %d", cell["method"], per_device, training["batch_size"])
    behavior = behavior_used(cell, paths["preferences"])
    dataset = load_pairs(paths["preferences"], paths["reference_logps"], behavior=behavior != "reference")
    checkpoints = Path(paths["checkpoints"])
    # Before the model is loaded: under DeepSpeed ZeRO-3 the arguments make loading shard it.
    args = TrainingArguments(
        output_dir=str(checkpoints),
        num_train_epochs=training["epochs"],
        per_device_train_batch_size=per_device,
        gradient_accumulation_steps=accumulation,
        learning_rate=training["learning_rate"],
        lr_scheduler_type=training["lr_scheduler_type"],
        lr_scheduler_kwargs=training.get("lr_scheduler_kwargs") or {},
        warmup_steps=training["warmup_steps"],
        weight_decay=training["weight_decay"],
        adam_epsilon=training["adam_epsilon"],
        max_grad_norm=training["max_grad_norm"],
        logging_steps=execution["logging_steps"],
        save_strategy="steps",
        save_steps=execution["save_steps"],
        save_total_limit=1,
        seed=cell["seed"],
        data_seed=cell["seed"],
        report_to=report_to,
        run_name=f"{cell['task']}/{cell['name']}",
        remove_unused_columns=False,
        bf16=use_bf16(training["bf16"]),
        activation_checkpointing=execution["activation_checkpointing"],
        use_cpu=device() == "cpu",
        dataloader_num_workers=0,
        # Every weight takes part in the loss: DDP need not search the graph for unused ones each step.
        ddp_find_unused_parameters=False,
        # ZeRO-3 (several processes only): transformers fills the file's "auto" values from these arguments.
        deepspeed=distributed.deepspeed_config(execution["distributed"], world),
    )
    tokenizer = modeling.load_tokenizer(paths["sft_model"])
    # float32 master weights; bf16 (mixed precision) is a training setting.
    model = modeling.load_policy(paths["sft_model"], cell["model"], distributed.process_device(), dtype="float32")
    model.train()
    trainer = PreferenceTrainer(
        model=model,
        args=args,
        train_dataset=dataset,
        data_collator=PreferenceCollator(pad_token_id=tokenizer.pad_token_id),
        processing_class=tokenizer,
        loss_spec=spec,
        method=cell["method"],
        disallowed_token_ids=modeling.disallowed_tokens(model),
        # One process without accumulation: transformers' own path (the toy's numbers).
        exact=exact,
    )
    trainer.behavior_used = behavior
    if "tensorboard" in report_to:
        distributed.point_tensorboard(trainer, tensorboard_dir(cell, execution))
    # A cell outside the `dynamics` selection of a task that saves only what it evaluates
    # (`snapshot_cells: dynamics`) saves none: at 3B a snapshot is 12.8 GB.
    epochs = snapshot_epochs(training["epochs"], training["snapshots_per_epoch"]) if cell.get("snapshots", True) else []
    trainer.add_callback(Snapshots(checkpoints / "snapshots", trainer, epochs))
    return trainer


def train_cell(cell: dict) -> dict:
    """Train one cell in this process (one of several when launched by `run_cell`); resume
    from its last complete checkpoint if a previous run was cut short. Returns steps,
    pairs, epochs and `behavior_used` (see `behavior_used`)."""
    paths = cell["paths"]
    trainer = build_trainer(cell)
    checkpoints = Path(paths["checkpoints"])
    resume = last_checkpoint(checkpoints)
    if resume:
        log.info("resuming from %s", resume)
    trainer.train(resume_from_checkpoint=resume)
    distributed.save_policy(trainer, paths["model"])
    steps = trainer.state.global_step
    pairs = len(trainer.train_dataset)
    result = {"steps": steps, "pairs": pairs, "epochs": math.ceil(cell["training"]["epochs"]),
              "behavior_used": trainer.behavior_used}
    if not trainer.is_world_process_zero():
        return result
    history = pd.DataFrame([row for row in trainer.state.log_history if "loss" in row])
    history = history.rename(columns={"loss": "train_loss", "learning_rate": "lr"})
    # Rows restored from a checkpoint come back with sorted keys: fix the order.
    columns = [c for c in TRAIN_LOG_COLUMNS if c in history.columns]
    write_csv(history[columns + sorted(set(history.columns) - set(columns))], paths["train_log"])
    snapshots = Path(paths["snapshots"])
    shutil.rmtree(snapshots, ignore_errors=True)
    if (checkpoints / "snapshots").exists():
        (checkpoints / "snapshots").rename(snapshots)
    else:
        snapshots.mkdir(parents=True)  # a one-epoch run has none
    shutil.rmtree(checkpoints, ignore_errors=True)
    log.info("cell %s trained: %d steps over %d pairs", cell["name"], steps, pairs)
    return result


LAUNCH_CONFIG = "launch.yaml"  # the cell config a launched run reads, in its checkpoints folder


def run_cell(cell: dict, processes: int = 1) -> dict:
    """Train one cell on `processes` processes of this node (`isdaa.distributed`): in this
    process for one, else through `accelerate launch` of `python -m isdaa train --into-cell`
    on the cell's config, written to its checkpoints folder. Returns train_cell's result
    (launched: its `behavior_used` only; the rest is in the log)."""
    if processes <= 1:
        return train_cell(cell)
    checkpoints = Path(cell["paths"]["checkpoints"])
    config = checkpoints / LAUNCH_CONFIG
    distributed.launch_job("train", cell, config, processes, cell_execution(cell), cell["training"]["batch_size"],
                           SECTION)
    trained = read_yaml(config)  # what the main process wrote back, with behavior_used
    config.unlink()
    try:
        checkpoints.rmdir()  # emptied by the run, but for the config
    except OSError:
        pass
    return {"behavior_used": trained["behavior_used"]}
