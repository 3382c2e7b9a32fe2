"""Preference losses: pure functions of sequence-level log-prob tensors.

Notation (all tensors shape (B,), sums over response tokens):
    pc, pr   policy log-probs of the chosen / rejected response
    rc, rr   reference (SFT) log-probs
    bc, br   behaviour-policy log-probs (the policy that generated the pairs)
    lc, lr   response lengths in tokens, end token included
    h = (pc - pr) - (rc - rr)      the DAA logit

A DAA is a function ``loss(h, beta) -> (B,)`` registered in `DAA_LOSSES`. Modifiers
act on the logit or on the per-pair loss, so every one composes with every DAA:

    chi link (chi-PO)    h <- clip(phi_c - phi_r, -2R/beta, 2R/beta),  phi = d + exp(d),  d = log pi - log pi_ref
    length term (R-DPO)  h <- h + (alpha / beta) * (lc - lr)           i.e. beta*h + alpha*(lc - lr)
    SFT term (RPO)       loss <- loss + eta * beta * (-pc)
    importance sampling  loss <- w * loss,  w = sg(exp(min((pc - bc) + (pr - br), 2 eps)))
      is_weights: token         log w = (pc - bc)/lc + (pr - br)/lr   (default sequence: (pc - bc) + (pr - br))
      is_clip: two_sided        w = sg(exp(clip(log w, -2 eps, 2 eps)))   (default upper: min(log w, 2 eps))
      is_normalize: batch_mean  w <- w / mean_batch(w), after the clip   (a micro-batch under gradient accumulation)

To add a DAA, write one function of (h, beta) and decorate it with ``@register_daa("name")``.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import TYPE_CHECKING, Callable

if TYPE_CHECKING:
    import torch

# torch is imported inside the functions that compute: validating a config builds a
# LossSpec on every Snakefile parse, and torch's import costs 2-3 s.

DAA_LOSSES: dict[str, Callable[["torch.Tensor", float], "torch.Tensor"]] = {}

# exp(d) of the chi link is computed on d clamped here: beyond it the clip has
# already flattened the loss, and exp would only overflow.
CHI_LOG_RATIO_MAX = 10.0


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
    import torch.nn.functional as F

    return -F.logsigmoid(beta * h)


@register_daa("ipo")
def ipo(h: torch.Tensor, beta: float) -> torch.Tensor:
    """IPO: (h - 1/(2 beta))^2 on unnormalised sequence log-probs."""
    return (h - 1.0 / (2.0 * beta)) ** 2


@register_daa("slic")
def slic(h: torch.Tensor, beta: float) -> torch.Tensor:
    """SLiC / hinge: max(0, 1 - beta * h)."""
    import torch.nn.functional as F

    return F.relu(1.0 - beta * h)


# Importance-sampling options of `LossSpec`: the allowed values, the default first.
IS_OPTIONS = {"is_weights": ("sequence", "token"), "is_clip": ("upper", "two_sided"),
              "is_normalize": ("none", "batch_mean")}


def check_is_option(field: str, value) -> None:
    if value not in IS_OPTIONS[field]:
        raise ValueError(f"LossSpec.{field}: must be one of {list(IS_OPTIONS[field])}, got {value!r}")


def importance_log_ratio(pc, pr, bc, br, weights="sequence", chosen_lengths=None, rejected_lengths=None):
    """log w of each pair, detached: (pc - bc) + (pr - br), or per token (pc - bc)/lc + (pr - br)/lr."""
    if weights == "sequence":
        return ((pc - bc) + (pr - br)).detach()
    if chosen_lengths is None or rejected_lengths is None:
        raise ValueError("LossSpec.is_weights='token' needs chosen_lengths and rejected_lengths")
    return ((pc - bc) / chosen_lengths.to(pc.dtype) + (pr - br) / rejected_lengths.to(pr.dtype)).detach()


def importance_sampling(pc, pr, bc, br, eps: float, weights="sequence", clip="upper", normalize="none",
                        chosen_lengths=None, rejected_lengths=None) -> tuple[torch.Tensor, torch.Tensor]:
    """(w, clipped): the detached weights (options as in `LossSpec`) and whether each hit a clip bound."""
    import torch

    for field, value in (("is_weights", weights), ("is_clip", clip), ("is_normalize", normalize)):
        check_is_option(field, value)
    log_w = importance_log_ratio(pc, pr, bc, br, weights, chosen_lengths, rejected_lengths)
    bound = 2.0 * eps
    if clip == "upper":
        w, clipped = torch.exp(torch.clamp(log_w, max=bound)), log_w >= bound
    else:
        w, clipped = torch.exp(torch.clamp(log_w, -bound, bound)), (log_w >= bound) | (log_w <= -bound)
    if normalize == "batch_mean":
        w = w / w.mean()
    return w, clipped


def importance_weights(pc, pr, bc, br, eps: float, **options) -> torch.Tensor:
    """w = exp(min((pc - bc) + (pr - br), 2 eps)), without gradient.

    By default the joint ratio of the pair, clipped above only; no self-normalisation.
    `options` (weights, clip, normalize, chosen_lengths, rejected_lengths) as in `importance_sampling`.
    """
    return importance_sampling(pc, pr, bc, br, eps, **options)[0]


def chi_link(pc, pr, rc, rr, beta: float, r: float) -> torch.Tensor:
    """chi-PO logit: phi_c - phi_r with phi = d + exp(d), d = log pi - log pi_ref
    (phi(z) = log z + z at z = pi/pi_ref), clipped so that beta * logit lies in [-2R, 2R]."""
    import torch

    def phi(d):
        return d + torch.exp(torch.clamp(d, max=CHI_LOG_RATIO_MAX))

    bound = 2.0 * r / beta
    return torch.clamp(phi(pc - rc) - phi(pr - rr), -bound, bound)


@dataclass(frozen=True)
class LossSpec:
    """A preference loss: a DAA, its beta, and optional modifiers.

    is_eps:       None for no importance sampling; else the clip, w <= exp(2 is_eps).
    rpo_eta:      weight of RPO's SFT term, eta * beta * NLL(chosen); 0 disables it.
    length_alpha: R-DPO's length coefficient alpha; 0 disables it.
    chi:          use chi-PO's link phi(z) = z + log z instead of log z.
    chi_r:        chi-PO's clip R (beta * logit kept in [-2R, 2R]); only with chi.
    is_weights:   "sequence" (the pair's joint ratio) or "token" (each response's log-ratio divided by
                  its length); only with is_eps.
    is_clip:      "upper" (w <= exp(2 is_eps)) or "two_sided" (also w >= exp(-2 is_eps)); only with is_eps.
    is_normalize: "none" or "batch_mean" (w / mean(w) over the batch, after the clip); only with is_eps.
                  Under gradient accumulation the batch is one micro-batch.
    """

    daa: str = "dpo"
    beta: float = 0.1
    is_eps: float | None = None
    rpo_eta: float = 0.0
    length_alpha: float = 0.0
    chi: bool = False
    chi_r: float | None = None
    is_weights: str = "sequence"
    is_clip: str = "upper"
    is_normalize: str = "none"

    def __post_init__(self):
        if self.daa not in DAA_LOSSES:
            raise ValueError(f"LossSpec.daa: unknown DAA {self.daa!r}; registered: {sorted(DAA_LOSSES)}")
        if not self.beta > 0:
            raise ValueError(f"LossSpec.beta: must be > 0, got {self.beta!r}")
        if self.is_eps is not None and not self.is_eps > 0:
            raise ValueError(f"LossSpec.is_eps: must be None or > 0, got {self.is_eps!r}")
        if not self.rpo_eta >= 0:
            raise ValueError(f"LossSpec.rpo_eta: must be >= 0, got {self.rpo_eta!r}")
        if not self.length_alpha >= 0:
            raise ValueError(f"LossSpec.length_alpha: must be >= 0, got {self.length_alpha!r}")
        if not isinstance(self.chi, bool):
            raise ValueError(f"LossSpec.chi: must be true or false, got {self.chi!r}")
        if self.chi_r is not None and not self.chi:
            raise ValueError(f"LossSpec.chi_r: only meaningful with chi=True, got chi_r={self.chi_r!r}")
        if self.chi and not (self.chi_r is not None and self.chi_r > 0):
            raise ValueError(f"LossSpec.chi_r: chi-PO needs a clip R > 0, got {self.chi_r!r}")
        for field, allowed in IS_OPTIONS.items():
            value = getattr(self, field)
            check_is_option(field, value)
            if value != allowed[0] and self.is_eps is None:
                raise ValueError(f"LossSpec.{field}: only meaningful with is_eps, got {field}={value!r}")


@dataclass
class PreferenceLossOutput:
    losses: torch.Tensor  # (B,) per-pair losses, importance weights applied
    weights: torch.Tensor  # (B,) detached weights (ones without importance sampling)
    logits: torch.Tensor  # (B,) the logit the DAA saw (after the chi link and length term), detached
    clipped: torch.Tensor  # (B,) bool: the importance weight hit its clip

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
    chosen_lengths: torch.Tensor | None = None,
    rejected_lengths: torch.Tensor | None = None,
) -> PreferenceLossOutput:
    """The loss of `spec` on a batch of pairs. Without behaviour log-probs the
    behaviour policy is the reference; lengths are needed only by the length term and token weights."""
    import torch

    pc, pr, rc, rr = policy_chosen, policy_rejected, reference_chosen, reference_rejected
    if spec.chi:
        h = chi_link(pc, pr, rc, rr, spec.beta, spec.chi_r)
    else:
        h = (pc - pr) - (rc - rr)
    if spec.length_alpha:
        if chosen_lengths is None or rejected_lengths is None:
            raise ValueError("LossSpec.length_alpha > 0 needs chosen_lengths and rejected_lengths")
        h = h + (spec.length_alpha / spec.beta) * (chosen_lengths - rejected_lengths).to(h.dtype)
    losses = DAA_LOSSES[spec.daa](h, spec.beta)
    if spec.rpo_eta:
        losses = losses + spec.rpo_eta * spec.beta * (-pc)
    if spec.is_eps is None:
        weights = torch.ones_like(losses).detach()
        clipped = torch.zeros_like(losses, dtype=torch.bool)
    else:
        bc = rc if behavior_chosen is None else behavior_chosen
        br = rr if behavior_rejected is None else behavior_rejected
        weights, clipped = importance_sampling(pc, pr, bc, br, spec.is_eps, spec.is_weights, spec.is_clip,
                                               spec.is_normalize, chosen_lengths, rejected_lengths)
        losses = weights * losses
    return PreferenceLossOutput(losses=losses, weights=weights, logits=h.detach(), clipped=clipped)
