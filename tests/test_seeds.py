"""Seed distributions: the committed files load, sample the right shapes in [0,1], deterministically, per class."""
import pytest
import torch

from robust_synth import seeds


@pytest.mark.parametrize("dataset, classes, side", [("cifar10", 10, 32), ("imagenet", 1000, 224)])
def test_seed_file_loads_and_samples(dataset, classes, side):
    stats = seeds.load_seeds(dataset)
    assert stats["mean"].shape[0] == classes and stats["components"].dim() == 5
    x = seeds.sample(dataset, torch.tensor([0, classes - 1, 3]), torch.Generator().manual_seed(0))
    assert x.shape == (3, 3, side, side) and torch.isfinite(x).all() and 0 <= x.min() and x.max() <= 1


def test_seed_files_are_small():
    for dataset in seeds.DATASET_CLASSES:
        assert seeds.seed_path(dataset).stat().st_size < 3e6


def test_sampling_is_deterministic_per_generator_and_sized_for_the_model(tiny_model):
    y = torch.tensor([1, 1, 5])
    a = seeds.sample(tiny_model, y, torch.Generator().manual_seed(3))
    b = seeds.sample(tiny_model, y, torch.Generator().manual_seed(3))
    c = seeds.sample(tiny_model, y, torch.Generator().manual_seed(4))
    assert a.shape == (3, 3, 32, 32) and torch.equal(a, b) and not torch.equal(a, c)
    assert not torch.equal(a[0], a[1])  # two draws of the same class differ


def test_class_means_differ_between_classes():
    g = torch.Generator().manual_seed(0)
    ships = seeds.sample("cifar10", torch.full((200,), 8), g).mean(0)
    frogs = seeds.sample("cifar10", torch.full((200,), 6), g).mean(0)
    assert ships[2].mean() > frogs[2].mean() + 0.05  # ships: blue sea and sky; frogs: green-brown


def test_bad_classes_and_datasets_are_rejected(tiny_model):
    with pytest.raises(ValueError, match="class indices must be in 0..9"):
        seeds.sample(tiny_model, torch.tensor([10]))
    with pytest.raises(ValueError, match="unknown seed dataset 'mnist'"):
        seeds.sample("mnist", torch.tensor([0]))
