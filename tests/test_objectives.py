"""Objectives against their plain formulas, composition, gradchecks and input checks."""
import pytest
import torch
import torch.nn.functional as F

from robust_synth import objectives as O
from robust_synth.features import ModelOutput

B = 3


@pytest.fixture
def out():
    g = torch.Generator().manual_seed(0)
    return ModelOutput(logits=torch.randn(B, 5, generator=g), rep=torch.randn(B, 6, generator=g),
                       layer1=torch.randn(B, 4, 3, 3, generator=g), layer2=torch.randn(B, 2, 2, 2, generator=g))


@pytest.fixture
def x():
    return torch.rand(B, 3, 4, 4, generator=torch.Generator().manual_seed(1))


def _close(a, b):
    assert a.shape == (B,)
    torch.testing.assert_close(a, b, rtol=1e-5, atol=1e-6)


def test_class_loss_is_per_sample_cross_entropy(out, x):
    y = torch.tensor([0, 4, 2])
    _close(O.class_loss(y)(out, x), F.cross_entropy(out.logits, y, reduction="none"))


def test_logit_margin_is_best_other_logit_minus_target_logit(out, x):
    y = torch.tensor([0, 4, 2])
    expected = torch.stack([max(z[j] for j in range(5) if j != t) - z[t] for z, t in zip(out.logits, y.tolist())])
    _close(O.logit_margin(y)(out, x), expected)


def test_representation_match_is_relative_distance(out, x):
    target = torch.randn(B, 6)
    expected = torch.stack([(r - t).norm() / t.norm() for r, t in zip(out["rep"], target)])
    objective = O.representation_match(target)
    _close(objective(out, x), expected)
    assert objective.layers == ("rep",)
    _close(O.representation_match(out["rep"])(out, x), torch.zeros(B))


def test_feature_is_channel_mean_for_conv_maps_and_unit_for_vectors(out, x):
    _close(O.feature(2, "layer1")(out, x), out["layer1"][:, 2].mean(dim=(1, 2)))
    _close(O.feature(5)(out, x), out["rep"][:, 5])
    assert O.feature(5).layers == ("rep",)


def test_masked_pixel_penalties_only_see_pixels_outside_the_mask(x):
    x0 = torch.rand(B, 3, 4, 4, generator=torch.Generator().manual_seed(2))
    mask = torch.zeros(1, 1, 4, 4)
    mask[..., :2, :] = 1  # top half free
    keep = 1 - mask
    _close(O.masked_mse(x0, mask)(None, x), (((x - x0) * keep) ** 2).mean(dim=(1, 2, 3)))
    _close(O.masked_l2(x0, mask)(None, x), ((x - x0) * keep).pow(2).sum(dim=(1, 2, 3)).sqrt())
    changed_inside_hole = x0.clone()
    changed_inside_hole[..., :2, :] = 0.0
    _close(O.masked_l2(x0, mask)(None, changed_inside_hole), torch.zeros(B))


def test_mask_with_wrong_shape_is_a_value_error(x):
    with pytest.raises(ValueError, match="mask must have shape"):
        O.masked_mse(x, torch.zeros(1, 3, 4, 4))


def test_content_loss_is_mean_squared_feature_difference(out, x):
    target = torch.randn(B, 4, 3, 3)
    _close(O.content_loss(target, "layer1")(out, x), ((out["layer1"] - target) ** 2).mean(dim=(1, 2, 3)))


def _plain_gram(f):
    b, c, h, w = f.shape
    return torch.stack([fi.reshape(c, -1) @ fi.reshape(c, -1).T for fi in f]) / (c * h * w)


def test_gram_matrix_matches_the_plain_formula_and_is_symmetric(out):
    g = O.gram_matrix(out["layer1"])
    torch.testing.assert_close(g, _plain_gram(out["layer1"]))
    torch.testing.assert_close(g, g.transpose(1, 2))


def test_style_loss_is_weighted_sum_of_squared_gram_differences(out, x):
    targets = {"layer1": torch.randn(1, 4, 4), "layer2": torch.randn(1, 2, 2)}
    weights = {"layer1": 2.0, "layer2": 0.5}
    expected = sum(w * (_plain_gram(out[k]) - targets[k]).pow(2).sum(dim=(1, 2)) for k, w in weights.items())
    objective = O.style_loss(targets, weights)
    _close(objective(out, x), expected)
    assert objective.layers == ("layer1", "layer2")
    with pytest.raises(ValueError, match="at least one style layer"):
        O.style_loss({})


def test_total_variation_is_mean_absolute_neighbour_difference(x):
    dh = (x[:, :, 1:] - x[:, :, :-1]).abs().mean(dim=(1, 2, 3))
    dw = (x[..., 1:] - x[..., :-1]).abs().mean(dim=(1, 2, 3))
    _close(O.total_variation()(None, x), dh + dw)
    _close(O.total_variation()(None, torch.full_like(x, 0.3)), torch.zeros(B))


def test_composition_values_names_and_layers(out, x):
    y = torch.tensor([0, 1, 2])
    ce, feat, tv = O.class_loss(y), O.feature(1, "layer1"), O.total_variation()
    combined = ce + 0.5 * feat - tv * 2
    expected = ce(out, x) + 0.5 * feat(out, x) - 2 * tv(out, x)
    _close(combined(out, x), expected)
    assert combined.name == "class_ce + 0.5·feature[layer1:1] - 2·tv"
    _close((-ce)(out, x), -ce(out, x))
    assert (-ce).name == "-class_ce"
    merged = O.feature(0, "layer2") + O.representation_match(out["rep"]) + O.feature(1, "layer2")
    assert merged.layers == ("layer2", "rep")


def test_scaling_by_a_non_number_is_a_type_error():
    """Python's own refusal (the operators return NotImplemented), not a TypeError raised somewhere inside."""
    with pytest.raises(TypeError, match=r"unsupported operand type\(s\) for \*: 'Objective' and 'Tensor'"):
        O.total_variation() * torch.ones(2)
    with pytest.raises(TypeError, match=r"unsupported operand type\(s\) for \+: 'Objective' and 'float'"):
        O.total_variation() + 1.0
    with pytest.raises(TypeError, match=r"unsupported operand type\(s\) for -: 'Objective' and 'float'"):
        O.total_variation() - 1.0


def test_gradcheck_gram_matrix_and_total_variation_in_float64():
    g = torch.Generator().manual_seed(3)
    feats = torch.randn(2, 3, 4, 5, dtype=torch.float64, generator=g, requires_grad=True)
    assert torch.autograd.gradcheck(O.gram_matrix, (feats,))
    image = torch.rand(2, 3, 5, 4, dtype=torch.float64, generator=g, requires_grad=True)
    tv = O.total_variation()
    assert torch.autograd.gradcheck(lambda im: tv(None, im), (image,))


def test_gram_matrix_rejects_bad_input():
    with pytest.raises(TypeError, match="expects a tensor"):
        O.gram_matrix([[1.0, 2.0]])
    with pytest.raises(ValueError, match=r"\(B, C, H, W\) or \(B, N, C\)"):
        O.gram_matrix(torch.ones(3, 4))


def test_gram_matrix_of_transformer_tokens_equals_that_of_the_same_positions_as_a_map():
    """Catches tokens (B, N, C) read with N as channels: their Gram must be C x C, as the map's."""
    maps = torch.randn(2, 5, 3, 4)
    tokens = maps.flatten(2).transpose(1, 2)  # (2, 12, 5)
    torch.testing.assert_close(O.gram_matrix(tokens), O.gram_matrix(maps))


def test_feature_index_checks(out, x):
    with pytest.raises(ValueError, match="out of range"):
        O.feature(4, "layer1")(out, x)
    with pytest.raises(ValueError, match="non-negative integer"):
        O.feature(-1)
    with pytest.raises(ValueError, match="non-negative integer"):
        O.feature(1.5)


def test_targets_must_be_integer_class_indices():
    with pytest.raises(TypeError, match="integer tensor"):
        O.class_loss(torch.tensor([0.0, 1.0]))
    with pytest.raises(TypeError, match="integer tensor"):
        O.logit_margin(torch.tensor([[1, 2]]))
