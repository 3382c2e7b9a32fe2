"""Our DPO and SLiC agree with TRL's `sigmoid` and `hinge` losses on the same batch,
through TRL's own `DPOTrainer` code path (log-probs included).

IPO is not compared: TRL 1.16's `ipo` length-normalises the log-probs, a different
objective from the paper's (ours is tested against its formula in test_losses.py).
"""

import pytest
import torch
from datasets import Dataset
from trl import DPOConfig, DPOTrainer

from isdaa import runtime
from isdaa.checkpoints import build_causal_lm
from isdaa.logprobs import completion_logps
from isdaa.losses import LossSpec, preference_loss
from isdaa.tasks import toy


@pytest.fixture(scope="module")
def model_and_pairs(tmp_path_factory):
    runtime.setup(1, 0)
    tokenizer = toy.build_tokenizer()
    settings = {"hidden_size": 32, "num_layers": 1, "num_heads": 2, "intermediate_size": 64, "max_positions": 64}
    model = build_causal_lm(tokenizer, settings, seed=0)  # no masked tokens: TRL masks none
    records = toy.generate_split(1, "sft", 16, toy.ToySettings(), with_demos=True)
    pairs = Dataset.from_dict({
        "prompt": [r["prompt"] for r in records[:8]],
        "chosen": [r["completion"] for r in records[:8]],
        "rejected": [r["completion"] for r in records[8:]],
    })
    return model, tokenizer, pairs, tmp_path_factory.mktemp("trl")


@pytest.mark.parametrize("ours, theirs", [("dpo", "sigmoid"), ("slic", "hinge")])
@pytest.mark.parametrize("beta", [0.1, 2.0])
def test_loss_matches_trl(model_and_pairs, ours, theirs, beta):
    model, tokenizer, pairs, out = model_and_pairs
    torch.manual_seed(0)
    # Move the policy away from the reference, so the log-ratios are not all zero.
    policy = type(model)(model.config)
    policy.load_state_dict({k: v + 0.3 * torch.randn_like(v) for k, v in model.state_dict().items()})
    # float64 on both paths: the comparison is of formulas, not of float32 rounding.
    policy, reference = policy.double(), type(model)(model.config).double()
    reference.load_state_dict(model.state_dict())
    args = DPOConfig(output_dir=str(out), loss_type=[theirs], beta=beta, per_device_train_batch_size=8,
                     precompute_ref_log_probs=True, bf16=False, use_cpu=True, report_to=[],
                     activation_checkpointing=False, max_length=None)
    trainer = DPOTrainer(model=policy, ref_model=reference, args=args, train_dataset=pairs, processing_class=tokenizer)
    batch = next(iter(trainer.get_train_dataloader()))
    policy.eval()
    with torch.no_grad():
        trl_loss = trainer.compute_loss(policy, batch).item()
        logps = completion_logps(policy, batch["input_ids"], batch["attention_mask"], batch["completion_mask"])
        pc, pr = logps.chunk(2)
        our_loss = preference_loss(LossSpec(ours, beta), pc, pr, batch["ref_chosen_logps"],
                                   batch["ref_rejected_logps"]).loss.item()
    assert abs(our_loss - trl_loss) < 1e-6, (our_loss, trl_loss)
    # and the tolerance is meaningful: a 1% error in beta is far outside it
    off = preference_loss(LossSpec(ours, beta * 1.01), pc, pr, batch["ref_chosen_logps"],
                          batch["ref_rejected_logps"]).loss.item()
    assert abs(off - trl_loss) > 1e-5
