"""Preference training of one grid cell.

A `transformers.Trainer` whose loss comes from `isdaa.losses`. Reference log-probs are
read from the shared artifact (computed once per preference set), so no cell holds
a reference model or runs a reference forward pass. Checkpoints live outside the
rule's declared outputs, and a rerun resumes from the last one.
"""

from __future__ import annotations

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

from isdaa import modeling
from isdaa.config import snapshot_epochs
from isdaa.layout import snapshot_name
from isdaa.io import require_columns, write_csv
from isdaa.logprobs import completion_logps
from isdaa.losses import LossSpec, preference_loss
from isdaa.runtime import device, use_bf16

log = logging.getLogger(__name__)

BEHAVIOR_KEYS = ("behavior_chosen_logps", "behavior_rejected_logps")
TRAIN_LOG_COLUMNS = [
    "step", "epoch", "train_loss", "rewards_chosen", "rewards_rejected", "rewards_margin", "rewards_accuracy",
    "logps_chosen", "logps_rejected", "is_weight_mean", "is_weight_max", "is_clipped_fraction", "grad_norm", "lr",
]


class PreferenceCollator(DataCollatorForPreference):
    """TRL's collator (chosen rows above rejected rows, right padded), carrying the
    behaviour log-probs through as well."""

    def torch_call(self, examples):
        batch = super().torch_call(examples)
        for key in BEHAVIOR_KEYS:
            if key in examples[0]:
                batch[key] = torch.tensor([e[key] for e in examples], dtype=torch.float32)
        return batch


class PreferenceTrainer(Trainer):
    def __init__(self, *args, loss_spec: LossSpec, method: str, disallowed_token_ids: list[int], **kwargs):
        super().__init__(*args, **kwargs)
        self.loss_spec = loss_spec
        self.method = method
        self.disallowed_token_ids = disallowed_token_ids
        self._metrics = defaultdict(list)

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
        loss = out.loss
        if not torch.isfinite(loss):
            raise FloatingPointError(
                f"method {self.method!r}: non-finite loss {loss.item()} at step {self.state.global_step + 1}; "
                f"the last good checkpoint is kept in {self.args.output_dir}"
            )
        beta = self.loss_spec.beta
        chosen_rewards = beta * (pc - inputs["ref_chosen_logps"]).detach()
        rejected_rewards = beta * (pr - inputs["ref_rejected_logps"]).detach()
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

    def log(self, logs, start_time=None):
        # Per-step values averaged over the logging window, like TRL's trainers.
        logs.update({k: float(np.mean(v)) for k, v in self._metrics.items() if v})
        self._metrics.clear()
        super().log(logs, start_time)


class Snapshots(TrainerCallback):
    """Save the policy every 1/per_epoch of an epoch, for the training-dynamics
    evaluation. Snapshots go next to the checkpoints, outside the rule's outputs, so
    a resumed run keeps the ones it already made.

    Saved in on_step_end, which transformers runs before it writes that step's
    checkpoint: a run killed in between resumes before the snapshot, never after it."""

    def __init__(self, folder: Path, tokenizer, epochs: list[float]):
        self.folder, self.tokenizer, self.pending = folder, tokenizer, list(epochs)
        self.last = 0.0

    def on_train_begin(self, args, state, control, **kwargs):
        self.last = state.epoch or 0.0  # a resumed run starts where its checkpoint was

    def on_step_end(self, args, state, control, model=None, **kwargs):
        if not state.is_world_process_zero:
            return
        # The first step at or past each snapshot's point; points behind the resumed
        # checkpoint were saved by the run that made the checkpoint.
        while self.pending and self.pending[0] <= state.epoch + 1e-9:
            epoch = self.pending.pop(0)
            if epoch > self.last + 1e-9:
                path = self.folder / snapshot_name(epoch)
                modeling.save(model, self.tokenizer, path)
                (path / "snapshot.json").write_text(json.dumps({"epoch": epoch, "step": state.global_step}))
        self.last = state.epoch


def load_pairs(preferences_path, reference_logps_path) -> "datasets.Dataset":  # noqa: F821
    """Pairs as the token ids they were sampled (or tokenised) as, joined with the shared
    reference log-probs (by pair_id): the reference pass scored exactly these ids."""
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
    if {"behavior_chosen_logp", "behavior_rejected_logp"} <= set(data.columns):
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


def build_trainer(cell: dict) -> PreferenceTrainer:
    """The trainer of one cell, from its resolved configuration (see `isdaa.config.cell_config`)."""
    paths, training = cell["paths"], cell["training"]
    spec = LossSpec(**cell["loss"])
    tokenizer = modeling.load_tokenizer(paths["sft_model"])
    # float32 master weights; bf16 (mixed precision) is a training setting.
    model = modeling.load_policy(paths["sft_model"], cell["model"], device(), dtype="float32")
    model.train()
    dataset = load_pairs(paths["preferences"], paths["reference_logps"])
    checkpoints = Path(paths["checkpoints"])
    args = TrainingArguments(
        output_dir=str(checkpoints),
        num_train_epochs=training["epochs"],
        per_device_train_batch_size=training["batch_size"],
        gradient_accumulation_steps=training["gradient_accumulation_steps"],
        learning_rate=training["learning_rate"],
        lr_scheduler_type=training["lr_scheduler_type"],
        warmup_steps=training["warmup_steps"],
        weight_decay=training["weight_decay"],
        adam_epsilon=training["adam_epsilon"],
        max_grad_norm=training["max_grad_norm"],
        logging_steps=training["logging_steps"],
        save_strategy="steps",
        save_steps=training["save_steps"],
        save_total_limit=1,
        seed=cell["seed"],
        data_seed=cell["seed"],
        report_to=[],
        remove_unused_columns=False,
        bf16=use_bf16(training["bf16"]),
        activation_checkpointing=training["activation_checkpointing"],
        use_cpu=device() == "cpu",
        dataloader_num_workers=0,
    )
    trainer = PreferenceTrainer(
        model=model,
        args=args,
        train_dataset=dataset,
        data_collator=PreferenceCollator(pad_token_id=tokenizer.pad_token_id),
        processing_class=tokenizer,
        loss_spec=spec,
        method=cell["method"],
        disallowed_token_ids=modeling.disallowed_tokens(model),
    )
    trainer.add_callback(Snapshots(checkpoints / "snapshots", tokenizer,
                                   snapshot_epochs(training["epochs"], training["snapshots_per_epoch"])))
    return trainer


def train_cell(cell: dict) -> dict:
    """Train one cell; resume from its last complete checkpoint if a previous run was cut short."""
    paths = cell["paths"]
    trainer = build_trainer(cell)
    tokenizer, checkpoints = trainer.processing_class, Path(paths["checkpoints"])
    resume = last_checkpoint(checkpoints)
    if resume:
        log.info("resuming from %s", resume)
    trainer.train(resume_from_checkpoint=resume)
    history = pd.DataFrame([row for row in trainer.state.log_history if "loss" in row])
    history = history.rename(columns={"loss": "train_loss", "learning_rate": "lr"})
    # Rows restored from a checkpoint come back with sorted keys: fix the order.
    columns = [c for c in TRAIN_LOG_COLUMNS if c in history.columns]
    write_csv(history[columns + sorted(set(history.columns) - set(columns))], paths["train_log"])
    modeling.save(trainer.model, tokenizer, paths["model"])
    snapshots = Path(paths["snapshots"])
    shutil.rmtree(snapshots, ignore_errors=True)
    if (checkpoints / "snapshots").exists():
        (checkpoints / "snapshots").rename(snapshots)
    else:
        snapshots.mkdir(parents=True)  # a one-epoch run has none
    shutil.rmtree(checkpoints, ignore_errors=True)
    steps = trainer.state.global_step
    pairs = len(trainer.train_dataset)
    log.info("cell %s trained: %d steps over %d pairs", cell["name"], steps, pairs)
    return {"steps": steps, "pairs": pairs, "epochs": math.ceil(cell["training"]["epochs"])}
