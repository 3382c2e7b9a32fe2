"""Supervised fine-tuning with TRL's `SFTTrainer` (loss on completion tokens only)."""

from __future__ import annotations

import logging
from pathlib import Path

import pandas as pd

from isdaa import modeling
from isdaa.io import require_columns
from isdaa.runtime import device

log = logging.getLogger(__name__)


def train_sft(base_model_dir, sft_data_path, output_dir, settings: dict, seed: int, work_dir) -> dict:
    """Fine-tune the base model on (prompt, completion) demonstrations; save to `output_dir`."""
    from datasets import Dataset
    from trl import SFTConfig, SFTTrainer

    data = pd.read_parquet(sft_data_path)
    require_columns(data, ["prompt", "completion"], sft_data_path)
    model = modeling.load_model(base_model_dir, device())
    model.train()
    tokenizer = modeling.load_tokenizer(base_model_dir)
    args = SFTConfig(
        output_dir=str(work_dir),
        max_steps=settings["max_steps"],
        per_device_train_batch_size=settings["batch_size"],
        learning_rate=settings["learning_rate"],
        lr_scheduler_type=settings["lr_scheduler_type"],
        warmup_steps=settings["warmup_steps"],
        weight_decay=0.0,
        max_grad_norm=settings["max_grad_norm"],
        max_length=settings["max_length"],
        logging_steps=settings["logging_steps"],
        save_strategy="no",
        report_to=[],
        seed=seed,
        data_seed=seed,
        bf16=False,
        use_cpu=device() == "cpu",
        dataset_num_proc=None,
        # TRL turns this on by default; on a small model it only recomputes the forward.
        activation_checkpointing=settings["activation_checkpointing"],
    )
    trainer = SFTTrainer(
        model=model,
        args=args,
        train_dataset=Dataset.from_pandas(data[["prompt", "completion"]], preserve_index=False),
        processing_class=tokenizer,
    )
    result = trainer.train()
    modeling.save(trainer.model, tokenizer, output_dir)
    log.info("SFT done: %s", result.metrics)
    history = [row for row in trainer.state.log_history if "loss" in row]
    return {"train_loss": result.metrics.get("train_loss"), "history": history, "output_dir": str(Path(output_dir))}
