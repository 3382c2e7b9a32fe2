"""Supervised fine-tuning with TRL's `SFTTrainer` (loss on completion tokens only)."""

from __future__ import annotations

import logging

import pandas as pd

from isdaa import modeling
from isdaa.io import require_columns
from isdaa.runtime import device, use_bf16

log = logging.getLogger(__name__)


def sft_dataset(data: pd.DataFrame, model_settings: dict):
    """TRL's prompt-completion records in the task's prompt format: the exact token text
    for `raw`, user and assistant messages (put through the chat template by TRL) for `chat`."""
    from datasets import Dataset

    if model_settings["prompt_format"] == "raw":
        return Dataset.from_pandas(data[["prompt", "completion"]], preserve_index=False)
    system = model_settings.get("system_prompt")
    head = [{"role": "system", "content": system}] if system else []
    return Dataset.from_dict({
        "prompt": [head + [{"role": "user", "content": p}] for p in data["prompt"]],
        "completion": [[{"role": "assistant", "content": r}] for r in data["response"]],
    })


def train_sft(base_model, sft_data_path, output_dir, settings: dict, model_settings: dict, work_dir) -> dict:
    """Fine-tune the base model on demonstrations and save it to `output_dir`; with
    `enabled: false`, the base model is the SFT policy and is saved as it is."""
    from trl import SFTConfig, SFTTrainer

    # `model.tokenizer` replaces the checkpoint's own; it is saved with the SFT policy,
    # which every later stage loads.
    tokenizer = modeling.load_tokenizer(model_settings.get("tokenizer") or base_model)
    model = modeling.load_policy(base_model, model_settings, device(), dtype="float32")
    if not settings["enabled"]:
        modeling.save(model, tokenizer, output_dir)
        log.info("SFT disabled: %s saved as the SFT policy", base_model)
        return {"train_loss": None, "history": []}
    data = pd.read_parquet(sft_data_path)
    require_columns(data, ["prompt", "completion" if model_settings["prompt_format"] == "raw" else "response"],
                    sft_data_path)
    model.train()
    seed = settings["seed"]
    args = SFTConfig(
        output_dir=str(work_dir),
        max_steps=settings["max_steps"],
        per_device_train_batch_size=settings["batch_size"],
        gradient_accumulation_steps=settings["gradient_accumulation_steps"],
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
        bf16=use_bf16(settings["bf16"]),
        use_cpu=device() == "cpu",
        dataset_num_proc=None,
        # TRL turns this on by default; on a small model it only recomputes the forward.
        activation_checkpointing=settings["activation_checkpointing"],
    )
    trainer = SFTTrainer(model=model, args=args, train_dataset=sft_dataset(data, model_settings),
                         processing_class=tokenizer)
    result = trainer.train()
    modeling.save(trainer.model, tokenizer, output_dir)
    log.info("SFT done: %s", result.metrics)
    history = [row for row in trainer.state.log_history if "loss" in row]
    return {"train_loss": result.metrics.get("train_loss"), "history": history}
