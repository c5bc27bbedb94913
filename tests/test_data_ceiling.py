"""benchmarks/data_ceiling.py: flip averaging, the JPEG re-encode and the reference network's training on a tiny set."""
import sys
from pathlib import Path

import pytest
import torch
from safetensors.torch import load_file

sys.path.insert(0, str(Path(__file__).resolve().parents[1] / "benchmarks"))
import data_ceiling  # noqa: E402
from robust_synth import train  # noqa: E402
from robust_synth.datasets import load_split  # noqa: E402


@pytest.fixture(autouse=True)
def private_cache(tmp_path, monkeypatch):
    monkeypatch.setenv("ROBUST_SYNTH_CACHE", str(tmp_path / "cache"))


def test_flip_averaging_adds_the_mirror_images_logits():
    """A classifier reading the first column twice as hard as the last is wrong on this image, right on its mirror
    image by more than it is wrong: averaged, it is right."""
    x = torch.full((1, 3, 4, 4), 50, dtype=torch.uint8)
    x[..., -1] = 255  # bright last column
    y = torch.tensor([0])

    def logits_of(xb):
        return torch.stack((2 * xb[..., 0].mean((1, 2)), xb[..., -1].mean((1, 2))), 1)

    assert data_ceiling.accuracy_with_flip(logits_of, x, y) == {"clean": 0.0, "clean_flip_averaged": 1.0, "n": 1}


def test_reencode_writes_every_split_image_as_a_lossier_jpeg(image_folder, tmp_path):
    out = data_ceiling.reencode(str(image_folder), tmp_path / "q30", 30)
    assert len(list(out.rglob("*.jpg"))) == 48 and not list(out.rglob("*.png"))
    x_png, y_png, classes_png = load_split(str(image_folder), "test")
    x_jpg, y_jpg, classes_jpg = load_split(str(out), "test")
    assert classes_jpg == classes_png and torch.equal(y_jpg, y_png)
    change = (x_jpg.float() - x_png.float()).abs().mean()
    assert 1 < change < 40, "re-encoded at quality 30: changed, but the same images"


def test_the_reference_network_trains_through_robust_synth_train(image_folder, tmp_path):
    product_build = train.build
    net = data_ceiling.train_reference(str(image_folder), tmp_path, epochs=5, threads=1)  # 5 steps: one lookahead
    assert train.build is product_build, "the product's builder is put back"
    assert isinstance(net, data_ceiling.Airbench94) and not net.training
    assert torch.equal(net.stem.weight.abs().sum((1, 2, 3))[:12], net.stem.weight.abs().sum((1, 2, 3))[12:]), \
        "the frozen whitening stem: eigenvector filters and their negatives"
    saved = load_file(tmp_path / "airbench94.safetensors")
    assert torch.equal(net.fc.weight, saved["fc.weight"]) and net(torch.rand(2, 3, 32, 32)).shape == (2, 3)
    torch.manual_seed(0)  # train's seed, set just before it builds the network: these are its initial weights
    initial = data_ceiling.Airbench94(3)
    assert not torch.equal(net.fc.weight, initial.fc.weight), "trained, not initial weights"
