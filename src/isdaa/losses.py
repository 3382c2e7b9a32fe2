"""Preference losses: pure functions of sequence-level log-prob tensors.

Notation (all tensors shape (B,), sums over response tokens):
    pc, pr   policy log-probs of the chosen / rejected response
    rc, rr   reference (SFT) log-probs
    bc, br   behaviour-policy log-probs (the policy that generated the pairs)
    h = (pc - pr) - (rc - rr)      the DAA logit

A DAA is a function ``loss(h, beta) -> (B,)`` registered in `DAA_LOSSES`; importance
sampling multiplies any of them by a clipped, detached weight. To add a DAA, write
one function and decorate it with ``@register_daa("name")``.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Callable

import torch
import torch.nn.functional as F

DAA_LOSSES: dict[str, Callable[[torch.Tensor, float], torch.Tensor]] = {}


def register_daa(name: str):
    def decorate(fn):
        if name in DAA_LOSSES:
            raise ValueError(f"DAA {name!r} is already registered")
        DAA_LOSSES[name] = fn
        return fn

    return decorate


@register_daa("dpo")
def dpo(h: torch.Tensor, beta: float) -> torch.Tensor:
    """DPO: -log sigmoid(beta * h)."""
    return -F.logsigmoid(beta * h)


@register_daa("ipo")
def ipo(h: torch.Tensor, beta: float) -> torch.Tensor:
    """IPO: (h - 1/(2 beta))^2 on unnormalised sequence log-probs."""
    return (h - 1.0 / (2.0 * beta)) ** 2


@register_daa("slic")
def slic(h: torch.Tensor, beta: float) -> torch.Tensor:
    """SLiC / hinge: max(0, 1 - beta * h)."""
    return F.relu(1.0 - beta * h)


def importance_weights(pc, pr, bc, br, eps: float) -> torch.Tensor:
    """w = exp(min((pc - bc) + (pr - br), 2 eps)), without gradient.

    The joint ratio of the pair, clipped above only; no self-normalisation.
    """
    log_w = (pc - bc) + (pr - br)
    return torch.exp(torch.clamp(log_w, max=2.0 * eps)).detach()


@dataclass(frozen=True)
class LossSpec:
    """A preference loss: which DAA, its beta, and whether to importance-weight it.

    is_eps: None for the plain DAA; otherwise the clip of the importance weight,
    w <= exp(2 * is_eps).
    """

    daa: str = "dpo"
    beta: float = 0.1
    is_eps: float | None = None

    def __post_init__(self):
        if self.daa not in DAA_LOSSES:
            raise ValueError(f"LossSpec.daa: unknown DAA {self.daa!r}; registered: {sorted(DAA_LOSSES)}")
        if not self.beta > 0:
            raise ValueError(f"LossSpec.beta: must be > 0, got {self.beta!r}")
        if self.is_eps is not None and not self.is_eps > 0:
            raise ValueError(f"LossSpec.is_eps: must be None or > 0, got {self.is_eps!r}")


@dataclass
class PreferenceLossOutput:
    losses: torch.Tensor  # (B,) per-pair losses, importance weights applied
    weights: torch.Tensor  # (B,) detached weights (ones without importance sampling)
    logits: torch.Tensor  # (B,) h, detached
    clipped: torch.Tensor  # (B,) bool: the weight hit its clip

    @property
    def loss(self) -> torch.Tensor:
        return self.losses.mean()


def preference_loss(
    spec: LossSpec,
    policy_chosen: torch.Tensor,
    policy_rejected: torch.Tensor,
    reference_chosen: torch.Tensor,
    reference_rejected: torch.Tensor,
    behavior_chosen: torch.Tensor | None = None,
    behavior_rejected: torch.Tensor | None = None,
) -> PreferenceLossOutput:
    """The loss of `spec` on a batch of pairs. Without behaviour log-probs the
    behaviour policy is the reference."""
    h = (policy_chosen - policy_rejected) - (reference_chosen - reference_rejected)
    losses = DAA_LOSSES[spec.daa](h, spec.beta)
    if spec.is_eps is None:
        weights = torch.ones_like(losses).detach()
        clipped = torch.zeros_like(losses, dtype=torch.bool)
    else:
        bc = reference_chosen if behavior_chosen is None else behavior_chosen
        br = reference_rejected if behavior_rejected is None else behavior_rejected
        weights = importance_weights(policy_chosen, policy_rejected, bc, br, spec.is_eps)
        log_w = ((policy_chosen - bc) + (policy_rejected - br)).detach()
        clipped = log_w >= 2.0 * spec.is_eps
        losses = weights * losses
    return PreferenceLossOutput(losses=losses, weights=weights, logits=h.detach(), clipped=clipped)
