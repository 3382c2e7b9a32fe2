"""Losses against hand-computed values."""

import math

import pytest
import torch

from isdaa.losses import LossSpec, importance_weights, preference_loss

PC = torch.tensor([-3.0, -5.0, -2.0])
PR = torch.tensor([-6.0, -4.0, -9.0])
RC = torch.tensor([-4.0, -4.5, -2.5])
RR = torch.tensor([-5.0, -4.5, -7.0])
H = [(-3 + 6) - (-4 + 5), (-5 + 4) - (-4.5 + 4.5), (-2 + 9) - (-2.5 + 7)]  # 2, -1, 2.5


def test_dpo_matches_formula():
    out = preference_loss(LossSpec("dpo", beta=0.5), PC, PR, RC, RR)
    expected = [math.log1p(math.exp(-0.5 * h)) for h in H]
    assert torch.allclose(out.losses, torch.tensor(expected), atol=1e-6)
    assert torch.equal(out.weights, torch.ones(3))
    assert out.loss.item() == pytest.approx(sum(expected) / 3, abs=1e-6)


def test_ipo_and_slic_match_formulas():
    ipo = preference_loss(LossSpec("ipo", beta=0.25), PC, PR, RC, RR)
    assert torch.allclose(ipo.losses, torch.tensor([(h - 2.0) ** 2 for h in H]))
    slic = preference_loss(LossSpec("slic", beta=0.5), PC, PR, RC, RR)
    assert torch.allclose(slic.losses, torch.tensor([max(0.0, 1 - 0.5 * h) for h in H]))


# Behaviour log-probs chosen so that log w = (pc - bc) + (pr - br) = 1, -1, 4.5.
BC = PC - torch.tensor([0.5, -0.5, 3.0])
BR = PR - torch.tensor([0.5, -0.5, 1.5])


def test_importance_weights_clip_above_only():
    w = importance_weights(PC, PR, BC, BR, eps=1.0)
    assert torch.allclose(w, torch.tensor([math.e, math.exp(-1), math.exp(2.0)]))
    # exactly at the clip boundary
    at = importance_weights(torch.tensor([0.0]), torch.tensor([0.0]), torch.tensor([-1.0]), torch.tensor([-1.0]), 1.0)
    assert at.item() == pytest.approx(math.exp(2.0))


def test_is_dpo_weights_dpo_and_carries_no_gradient_through_the_weight():
    pc = PC.clone().requires_grad_()
    pr = PR.clone().requires_grad_()
    spec = LossSpec("dpo", beta=0.5, is_eps=1.0)
    out = preference_loss(spec, pc, pr, RC, RR, BC, BR)
    assert not out.weights.requires_grad
    assert out.clipped.tolist() == [False, False, True]
    plain = preference_loss(LossSpec("dpo", beta=0.5), PC, PR, RC, RR)
    assert torch.allclose(out.losses, out.weights * plain.losses)
    assert_weighted_dpo_gradient(out, pc, pr, beta=0.5)


def assert_weighted_dpo_gradient(out, pc, pr, beta):
    """Per pair, the gradient of `out` (computed from pc, pr) is its weight x DPO's gradient."""
    out.losses.sum().backward()
    pc2, pr2 = PC.clone().requires_grad_(), PR.clone().requires_grad_()
    preference_loss(LossSpec("dpo", beta=beta), pc2, pr2, RC, RR).losses.sum().backward()
    assert torch.allclose(pc.grad, out.weights * pc2.grad)
    assert torch.allclose(pr.grad, out.weights * pr2.grad)


def test_behaviour_defaults_to_reference():
    out = preference_loss(LossSpec("dpo", 0.1, is_eps=5.0), PC, PR, RC, RR)
    assert torch.allclose(out.weights, torch.exp((PC - RC) + (PR - RR)))  # log w = 0, 0, -1.5


@pytest.mark.parametrize("kwargs, field", [({"daa": "kto"}, "daa"), ({"beta": 0.0}, "beta"),
                                            ({"beta": -1}, "beta"), ({"is_eps": 0.0}, "is_eps")])
def test_invalid_spec_names_field(kwargs, field):
    with pytest.raises(ValueError, match=f"LossSpec.{field}"):
        LossSpec(**kwargs)


LC = torch.tensor([3.0, 5.0, 2.0])  # response lengths, end token included
LR = torch.tensor([4.0, 1.0, 2.0])


def test_rdpo_adds_the_length_margin_inside_the_sigmoid():
    out = preference_loss(LossSpec("dpo", beta=0.5, length_alpha=0.1), PC, PR, RC, RR,
                          chosen_lengths=LC, rejected_lengths=LR)
    z = [0.5 * h + 0.1 * d for h, d in zip(H, [-1, 4, 0])]  # 0.9, -0.1, 1.25
    assert torch.allclose(out.losses, torch.tensor([math.log1p(math.exp(-v)) for v in z]), atol=1e-6)
    with pytest.raises(ValueError, match="chosen_lengths"):
        preference_loss(LossSpec("dpo", beta=0.5, length_alpha=0.1), PC, PR, RC, RR)


def test_rpo_adds_the_scaled_chosen_nll():
    out = preference_loss(LossSpec("dpo", beta=0.5, rpo_eta=0.005), PC, PR, RC, RR)
    dpo = [math.log1p(math.exp(-0.5 * h)) for h in H]
    assert torch.allclose(out.losses, torch.tensor([d + 0.005 * 0.5 * n for d, n in zip(dpo, [3, 5, 2])]), atol=1e-6)


def test_chipo_link_and_its_clip():
    out = preference_loss(LossSpec("dpo", beta=0.5, chi=True, chi_r=1.0), PC, PR, RC, RR)

    def phi(d):
        return d + math.exp(d)

    # pair 1: d_c = 1, d_r = -1; beta * (phi_c - phi_r) = 2.175 > 2R, so it is clipped to 2
    assert 0.5 * (phi(1) - phi(-1)) > 2
    # pair 2: d_c = -0.5, d_r = 0.5; inside the clip
    z2 = 0.5 * (phi(-0.5) - phi(0.5))
    assert -2 < z2 < 2
    assert out.losses[0].item() == pytest.approx(math.log1p(math.exp(-2.0)), abs=1e-6)
    assert out.losses[1].item() == pytest.approx(math.log1p(math.exp(-z2)), abs=1e-6)
    # no gradient flows through a clipped pair
    pc = PC.clone().requires_grad_()
    preference_loss(LossSpec("dpo", beta=0.5, chi=True, chi_r=1.0), pc, PR, RC, RR).losses[0].backward()
    assert pc.grad[0] == 0


def test_chipo_is_stable_for_huge_ratios():
    out = preference_loss(LossSpec("dpo", beta=0.1, chi=True, chi_r=1.0), torch.tensor([0.0]), torch.tensor([-500.0]),
                          torch.tensor([-400.0]), torch.tensor([0.0]))
    assert torch.isfinite(out.losses).all()


@pytest.mark.parametrize("daa", sorted(["dpo", "ipo", "slic"]))
@pytest.mark.parametrize("modifiers", [{}, {"chi": True, "chi_r": 1.0}, {"length_alpha": 0.05}, {"rpo_eta": 0.01},
                                       {"chi": True, "chi_r": 2.0, "length_alpha": 0.05, "rpo_eta": 0.01}])
def test_importance_sampling_composes_with_every_daa_and_modifier(daa, modifiers):
    plain = preference_loss(LossSpec(daa, 0.3, **modifiers), PC, PR, RC, RR, BC, BR, LC, LR)
    weighted = preference_loss(LossSpec(daa, 0.3, is_eps=1.0, **modifiers), PC, PR, RC, RR, BC, BR, LC, LR)
    assert torch.isfinite(plain.losses).all()
    assert torch.allclose(weighted.losses, weighted.weights * plain.losses)
    assert torch.allclose(weighted.weights, importance_weights(PC, PR, BC, BR, 1.0))


@pytest.mark.parametrize("kwargs, field", [({"rpo_eta": -0.1}, "rpo_eta"), ({"length_alpha": -1}, "length_alpha"),
                                            ({"chi": True}, "chi_r"), ({"chi_r": 1.0}, "chi_r"),
                                            ({"chi": True, "chi_r": 0}, "chi_r"), ({"chi": 1}, "chi")])
def test_invalid_modifiers_name_field(kwargs, field):
    with pytest.raises(ValueError, match=f"LossSpec.{field}"):
        LossSpec(**kwargs)


# Importance-sampling options. With BC, BR above, pc - bc = 0.5, -0.5, 3 and pr - br = 0.5, -0.5, 1.5;
# per token over LC, LR: log w = 0.5/3 + 0.5/4, -0.5/5 - 0.5/1, 3/2 + 1.5/2 = 7/24, -0.6, 2.25.
TOKEN_LOG_W = [7 / 24, -0.6, 2.25]


def test_token_weights_divide_each_log_ratio_by_its_length():
    spec = LossSpec("dpo", beta=0.5, is_eps=1.0, is_weights="token")
    out = preference_loss(spec, PC, PR, RC, RR, BC, BR, LC.long(), LR.long())  # integer lengths, as in training
    assert torch.allclose(out.weights, torch.tensor([math.exp(7 / 24), math.exp(-0.6), math.exp(2.0)]))
    assert out.clipped.tolist() == [False, False, True]  # 2.25 > 2 eps
    with pytest.raises(ValueError, match="is_weights"):
        preference_loss(spec, PC, PR, RC, RR, BC, BR)


# log w = -3, -1, 0.5, 2 (policy vs a behaviour at 0); with eps = 0.5 the bounds are -1 and 1.
LOG_W4 = torch.tensor([-3.0, -1.0, 0.5, 2.0])
ZERO4 = torch.zeros(4)


def test_two_sided_clip_bounds_the_weight_from_both_sides():
    out = preference_loss(LossSpec("dpo", 0.1, is_eps=0.5, is_clip="two_sided"), LOG_W4, ZERO4, ZERO4, ZERO4,
                          ZERO4, ZERO4)
    assert torch.allclose(out.weights, torch.exp(torch.tensor([-1.0, -1.0, 0.5, 1.0])))
    assert out.clipped.tolist() == [True, True, False, True]  # the second exactly at the lower bound
    upper = preference_loss(LossSpec("dpo", 0.1, is_eps=0.5), LOG_W4, ZERO4, ZERO4, ZERO4, ZERO4, ZERO4)
    assert torch.allclose(upper.weights, torch.exp(torch.tensor([-3.0, -1.0, 0.5, 1.0])))
    assert upper.clipped.tolist() == [False, False, False, True]


def test_batch_mean_normalisation_after_the_clip_without_gradient():
    pc, pr = PC.clone().requires_grad_(), PR.clone().requires_grad_()
    out = preference_loss(LossSpec("dpo", 0.5, is_eps=1.0, is_normalize="batch_mean"), pc, pr, RC, RR, BC, BR)
    raw = [math.e, math.exp(-1), math.exp(2.0)]  # log w = 1, -1, 4.5 clipped at 2
    assert torch.allclose(out.weights, torch.tensor([w / (sum(raw) / 3) for w in raw]))
    assert out.weights.mean().item() == pytest.approx(1.0)
    assert (out.weights[0] / out.weights[1]).item() == pytest.approx(math.exp(2.0))
    assert out.clipped.tolist() == [False, False, True]
    assert not out.weights.requires_grad
    assert_weighted_dpo_gradient(out, pc, pr, beta=0.5)


def test_is_ipo_and_is_slic_with_token_weights():
    w = [math.exp(7 / 24), math.exp(-0.6), math.exp(2.0)]
    ipo = preference_loss(LossSpec("ipo", 0.25, is_eps=1.0, is_weights="token"), PC, PR, RC, RR, BC, BR, LC, LR)
    # (h - 2)^2 = 0, 9, 1/4
    assert torch.allclose(ipo.losses, torch.tensor([wi * (h - 2.0) ** 2 for wi, h in zip(w, H)]))
    slic = preference_loss(LossSpec("slic", 0.2, is_eps=1.0, is_weights="token"), PC, PR, RC, RR, BC, BR, LC, LR)
    assert torch.allclose(slic.losses, torch.tensor([wi * max(0.0, 1 - 0.2 * h) for wi, h in zip(w, H)]))  # 0.6, 1.2, 0.5


IS_OPTION_SETS = [{"is_weights": "token"}, {"is_clip": "two_sided"}, {"is_normalize": "batch_mean"},
                  {"is_weights": "token", "is_clip": "two_sided", "is_normalize": "batch_mean"}]


@pytest.mark.parametrize("daa", ["dpo", "ipo", "slic"])
@pytest.mark.parametrize("options", IS_OPTION_SETS)
def test_importance_options_compose_with_every_daa(daa, options):
    plain = preference_loss(LossSpec(daa, 0.3, rpo_eta=0.01), PC, PR, RC, RR, BC, BR, LC, LR)
    weighted = preference_loss(LossSpec(daa, 0.3, is_eps=0.5, rpo_eta=0.01, **options), PC, PR, RC, RR, BC, BR, LC, LR)
    assert torch.allclose(weighted.losses, weighted.weights * plain.losses)
    names = {"is_weights": "weights", "is_clip": "clip", "is_normalize": "normalize"}
    expected = importance_weights(PC, PR, BC, BR, 0.5, chosen_lengths=LC, rejected_lengths=LR,
                                  **{names[k]: v for k, v in options.items()})
    assert torch.allclose(weighted.weights, expected)


def test_default_importance_options_are_todays_weights_bit_for_bit():
    assert (LossSpec().is_weights, LossSpec().is_clip, LossSpec().is_normalize) == ("sequence", "upper", "none")
    default = preference_loss(LossSpec("dpo", 0.5, is_eps=1.0), PC, PR, RC, RR, BC, BR, LC, LR)
    explicit = preference_loss(LossSpec("dpo", 0.5, is_eps=1.0, is_weights="sequence", is_clip="upper",
                                        is_normalize="none"), PC, PR, RC, RR, BC, BR, LC, LR)
    for name in ("losses", "weights", "logits", "clipped"):
        assert torch.equal(getattr(default, name), getattr(explicit, name))
    log_w = (PC - BC) + (PR - BR)  # the formula before the options existed
    assert torch.equal(default.weights, torch.exp(torch.clamp(log_w, max=2.0)))
    assert torch.equal(default.clipped, log_w >= 2.0)
    assert torch.equal(importance_weights(PC, PR, BC, BR, 1.0), default.weights)
    plain = preference_loss(LossSpec("dpo", 0.5), PC, PR, RC, RR, BC, BR, LC, LR)
    assert torch.equal(default.losses, default.weights * plain.losses)


@pytest.mark.parametrize("kwargs, field, message", [
    ({"is_eps": 1.0, "is_weights": "tokens"}, "is_weights", r"one of \['sequence', 'token'\]"),
    ({"is_eps": 1.0, "is_clip": "both"}, "is_clip", r"one of \['upper', 'two_sided'\]"),
    ({"is_eps": 1.0, "is_normalize": "mean"}, "is_normalize", r"one of \['none', 'batch_mean'\]"),
    ({"is_weights": "token"}, "is_weights", "only meaningful with is_eps"),
    ({"is_clip": "two_sided"}, "is_clip", "only meaningful with is_eps"),
    ({"is_normalize": "batch_mean"}, "is_normalize", "only meaningful with is_eps"),
])
def test_invalid_importance_options_name_field(kwargs, field, message):
    with pytest.raises(ValueError, match=rf"^LossSpec\.{field}: .*{message}"):
        LossSpec(**kwargs)


@pytest.mark.parametrize("option, field", [("weights", "is_weights"), ("clip", "is_clip"),
                                           ("normalize", "is_normalize")])
def test_importance_weights_rejects_unknown_options(option, field):
    with pytest.raises(ValueError, match=f"LossSpec.{field}: must be one of"):
        importance_weights(PC, PR, BC, BR, 1.0, **{option: "bogus"})


def test_default_importance_options_are_valid_without_importance_sampling():
    LossSpec(is_weights="sequence", is_clip="upper", is_normalize="none")  # no error
