"""Supervised fine-tuning with TRL's `SFTTrainer` (loss on completion tokens only)."""

from __future__ import annotations

import logging
from pathlib import Path

import pandas as pd

from isdaa import distributed, modeling
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


SECTION = "sft"
# The sft section's execution settings (isdaa.config.EXECUTION_KEYS) over these defaults.
EXECUTION_DEFAULTS = {"per_device_batch_size": None, "logging_steps": 50, "report_to": [], "distributed": "ddp",
                      "activation_checkpointing": False, "logging_dir": None}


def train_sft(base_model, sft_data_path, output_dir, settings: dict, model_settings: dict, work_dir,
              execution: dict | None = None) -> dict:
    """Fine-tune the base model on demonstrations and save it to `output_dir`; with
    `enabled: false`, the base model is the SFT policy and is saved as it is.

    `settings.batch_size` is the global batch (examples per optimiser step): on W processes
    (this one among them when launched by `run_sft`) each passes per_device_batch_size
    examples, accumulated over batch_size / (per_device_batch_size x W) passes. The loss is
    TRL's, so unlike preference training a different split may weight the examples of a
    short batch differently. `execution`: how it runs (EXECUTION_DEFAULTS); DeepSpeed ZeRO-3
    is untested here (not installed)."""
    from trl import SFTConfig, SFTTrainer

    execution = {**EXECUTION_DEFAULTS, **(execution or {})}
    world = distributed.world_size()
    # Fail on what would only fail later before loading the model.
    report_to = distributed.check_report_to(execution["report_to"], f"{SECTION}.report_to")
    if settings.get("gradient_accumulation_steps", 1) != 1:
        raise ValueError("sft.gradient_accumulation_steps is gone: sft.batch_size is the global batch (examples per "
                         "optimiser step); set sft.per_device_batch_size to accumulate")
    if settings["enabled"]:
        per_device, accumulation = distributed.accumulation(
            settings["batch_size"], execution["per_device_batch_size"], world, SECTION)
        if settings.get("max_steps") is None and not settings.get("epochs"):
            raise ValueError("sft.max_steps is null: set sft.epochs (passes over the demonstrations) instead")
    if world > 1:
        distributed.check_distributed(execution["distributed"], f"{SECTION}.distributed")
    # `model.tokenizer` replaces the checkpoint's own; it is saved with the SFT policy,
    # which every later stage loads.
    tokenizer = modeling.load_tokenizer(model_settings.get("tokenizer") or base_model)
    if not settings["enabled"]:
        model = modeling.load_policy(base_model, model_settings, device(), dtype="float32")
        modeling.save(model, tokenizer, output_dir)
        log.info("SFT disabled: %s saved as the SFT policy", base_model)
        return {"train_loss": None, "history": []}
    data = pd.read_parquet(sft_data_path)
    require_columns(data, ["prompt", "completion" if model_settings["prompt_format"] == "raw" else "response"],
                    sft_data_path)
    seed = settings["seed"]
    # Before the model is loaded: under DeepSpeed ZeRO-3 the arguments make loading shard it.
    args = SFTConfig(
        output_dir=str(work_dir),
        max_steps=settings["max_steps"] if settings.get("max_steps") is not None else -1,
        num_train_epochs=settings.get("epochs") or 1.0,
        per_device_train_batch_size=per_device,
        gradient_accumulation_steps=accumulation,
        learning_rate=settings["learning_rate"],
        lr_scheduler_type=settings["lr_scheduler_type"],
        lr_scheduler_kwargs=settings.get("lr_scheduler_kwargs") or {},
        warmup_steps=settings["warmup_steps"],
        weight_decay=0.0,
        max_grad_norm=settings["max_grad_norm"],
        max_length=settings["max_length"],
        logging_steps=execution["logging_steps"],
        save_strategy="no",
        report_to=report_to,
        run_name="sft",
        seed=seed,
        data_seed=seed,
        bf16=use_bf16(settings["bf16"]),
        use_cpu=device() == "cpu",
        dataset_num_proc=None,
        # Every weight takes part in the loss: DDP need not search the graph for unused ones each step.
        ddp_find_unused_parameters=False,
        # TRL turns this on by default; on a small model it only recomputes the forward.
        activation_checkpointing=execution["activation_checkpointing"],
        deepspeed=distributed.deepspeed_config(execution["distributed"], world),
    )
    model = modeling.load_policy(base_model, model_settings, distributed.process_device(), dtype="float32")
    model.train()
    trainer = SFTTrainer(model=model, args=args, train_dataset=sft_dataset(data, model_settings),
                         processing_class=tokenizer)
    if "tensorboard" in report_to:
        distributed.point_tensorboard(trainer, execution["logging_dir"] or str(Path(work_dir).parent / "tensorboard"))
    result = trainer.train()
    distributed.save_policy(trainer, output_dir)
    log.info("SFT done: %s", result.metrics)
    history = [row for row in trainer.state.log_history if "loss" in row]
    return {"train_loss": result.metrics.get("train_loss"), "history": history}


LAUNCH_CONFIG = "launch.yaml"  # the job a launched run reads, in its work folder


def run_sft(job: dict, processes: int = 1) -> None:
    """Run an SFT job (`train_sft`'s arguments: base_model, sft_data, output_dir, settings,
    model, work_dir, execution) on `processes` processes of this node: in this process for
    one, else through `accelerate launch` of `python -m isdaa sft` on the job, written to
    its work folder."""
    arguments = (job["base_model"], job["sft_data"], job["output_dir"], job["settings"], job["model"],
                 job["work_dir"], job.get("execution"))
    if processes <= 1 or not job["settings"]["enabled"]:
        train_sft(*arguments)
        return
    execution = {**EXECUTION_DEFAULTS, **(job.get("execution") or {})}
    config = Path(job["work_dir"]) / LAUNCH_CONFIG
    distributed.launch_job("sft", job, config, processes, execution, job["settings"]["batch_size"], SECTION)
    config.unlink()
