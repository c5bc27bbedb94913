"""The MadryLab robust ImageNet families on the Hub (madrylab/robust-imagenet-models): one table, expanded into specs.

Source of every number here: the repo's model card (its "Standard Accuracy of L2-/Linf-Robust ImageNet Models" tables,
the same as the README of microsoft/robust-models-transfer; Salman et al., "Do Adversarially Robust ImageNet Models
Transfer Better?", NeurIPS 2020), and for the pins the Hub's Git LFS SHA256 of each file at commit 3f04ac96 (the
file pages of huggingface.co/madrylab/robust-imagenet-models). Files whose LFS page we could not read have no pin.
The repo also holds `<arch>_linf_eps0.ckpt` copies of standard training: the L2 eps-0 files already are that control.
"""
from __future__ import annotations

from typing import NamedTuple

from ..catalog import ModelFamily, ModelSpec, register_models

L2_EPS = (0, 0.01, 0.03, 0.05, 0.1, 0.25, 0.5, 1, 3, 5)   # L2 radius in [0,1] pixel units (224 px images)
LINF_EPS = (0.5, 1, 2, 4, 8)                              # L∞ radius in units of 1/255, as files and table name it
SHORT_L2_EPS = (0, 3)                                     # the architectures published as a standard/robust pair only
ACCURACY_SOURCE = "MadryLab's table, model card of madrylab/robust-imagenet-models"
PAPER = ("Salman et al., Do Adversarially Robust ImageNet Models Transfer Better?, NeurIPS 2020 (arXiv:2007.08489); "
         "trained with Engstrom et al., Robustness (Python library), 2019")
LICENSE = "MIT"  # the Hub repo's licence
HUB_REPO = "madrylab/robust-imagenet-models"


class Trained(NamedTuple):
    """One architecture as MadryLab trained it: a family of its own, with its published levels."""
    arch: str            # a registered architecture (torchvision builder)
    label: str           # architecture in model names: imagenet-<label>-<norm>-<eps>
    prefix: str          # file-name prefix on the Hub: <prefix>_l2_eps3.ckpt
    title: str           # as MadryLab's table names it
    l2: dict             # eps -> published clean top-1 (%)
    linf: dict = {}      # eps (×1/255) -> published clean top-1 (%)


def _levels(eps: tuple, accuracies: tuple) -> dict:
    return dict(zip(eps, accuracies, strict=True))


TRAINED = (
    Trained("resnet18", "resnet18", "resnet18", "ResNet-18",
           _levels(L2_EPS, (69.79, 69.90, 69.24, 69.15, 68.77, 67.43, 65.49, 62.32, 53.12, 45.59)),
           _levels(LINF_EPS, (66.13, 63.46, 59.63, 52.49, 42.11))),
    Trained("resnet50", "resnet50", "resnet50", "ResNet-50",
           _levels(L2_EPS, (75.80, 75.68, 75.76, 75.59, 74.78, 74.14, 73.16, 70.43, 62.83, 56.13)),
           _levels(LINF_EPS, (73.73, 72.05, 69.10, 63.86, 54.53))),
    Trained("wide_resnet50_2", "wideresnet50x2", "wide_resnet50_2", "Wide-ResNet-50-2",
           _levels(L2_EPS, (76.97, 77.25, 77.26, 77.17, 76.74, 76.21, 75.11, 73.41, 66.90, 60.94)),
           _levels(LINF_EPS, (75.82, 74.65, 72.35, 68.41, 60.82))),
    Trained("wide_resnet50_4", "wideresnet50x4", "wide_resnet50_4", "Wide-ResNet-50-4",
           _levels(L2_EPS, (77.91, 78.02, 77.87, 77.77, 77.64, 77.10, 76.52, 75.51, 69.67, 65.20))),
    Trained("densenet161", "densenet", "densenet", "DenseNet-161", _levels(SHORT_L2_EPS, (77.37, 66.98))),
    Trained("mnasnet1_0", "mnasnet", "mnasnet", "MNASNet-1.0", _levels(SHORT_L2_EPS, (60.97, 41.83))),
    Trained("mobilenet_v2", "mobilenet", "mobilenet", "MobileNet-v2", _levels(SHORT_L2_EPS, (65.26, 50.40))),
    Trained("resnext50_32x4d", "resnext50x32x4d", "resnext50_32x4d", "ResNeXt-50 32x4d",
           _levels(SHORT_L2_EPS, (77.38, 66.25))),
    Trained("shufflenet_v2_x1_0", "shufflenet", "shufflenet", "ShuffleNet-v2 1.0x",
           _levels(SHORT_L2_EPS, (64.25, 43.32))),
    Trained("vgg16_bn", "vgg16bn", "vgg16_bn", "VGG16-bn", _levels(SHORT_L2_EPS, (73.66, 57.19))),
)

PINS = {  # file -> sha256 (the Hub's Git LFS object id of the file)
    "resnet18_l2_eps0.ckpt": "d762c58693a2ecaf93160060bb2c32493598540a08852fb3068e95e88f032623",
    "resnet18_l2_eps0.01.ckpt": "629a82377947785e5481eeaf4e22e3ca59a2eedeb4e385730ee2392b2678407d",
    "resnet18_l2_eps0.05.ckpt": "00912b1aa6d60cf7536b52762ed702e0b9cae822187200f42fe4f6a678771bed",
    "resnet18_l2_eps0.1.ckpt": "2477188559680d096a4eccf5bc7610317cab4b46a97094072d38a29a11bfa8fc",
    "resnet18_l2_eps0.25.ckpt": "2bed566c554755a0f6f82ddbe83c707d259801308f966e787bcd287f969c7911",
    "resnet18_l2_eps0.5.ckpt": "69a10462280f266ab855547fde0649ac909f06174ed8df83b8bf2ea0f6fc8150",
    "resnet18_l2_eps1.ckpt": "92e6c37af550167c7c49c77ad31aad027de4e1f47fbef57546a48ef43626ebcf",
    "resnet18_l2_eps3.ckpt": "b4315784a1a10257b05906aee94d6884678f7b77412d10100d7c05daa959eab0",
    "resnet18_l2_eps5.ckpt": "d3ef126afdf9144a22020988dc46f552a0c39347e954c34359a3cb6bf83df186",
    "resnet18_linf_eps0.5.ckpt": "48d5e933d4ec99b390a0b7c628a4303343f9517a46245cbd7d2f2c034cbd93ee",
    "resnet18_linf_eps1.0.ckpt": "b49800111d38197deefb0c236055fbdd9d91a0607e55d6cc0bce15504adc9582",
    "resnet18_linf_eps2.0.ckpt": "bf2611291cc5f792c7f8f17ff6f841f9a0ede32dbe575cbd5bc57233139ae8bd",
    "resnet18_linf_eps4.0.ckpt": "6f8ccef1ae4958c381617081e9e0fb5f50e7cccd4965192d1caa452fd6c5cd1e",
    "resnet50_l2_eps0.ckpt": "72d4a99582db5d7fa86c3fd2a089f0bfd6a10f69d635bca51f6ad72ac6b458f0",
    "resnet50_l2_eps0.01.ckpt": "53d7a7c09d2733b113e255ac9fc578091f44adb8d00eee274c0e71dd1f4dc41e",
    "resnet50_l2_eps0.03.ckpt": "e375df3bf07bf1360c04b0aff5cc19bb215e850b1af713327c87cf0353a5598f",
    "resnet50_l2_eps0.05.ckpt": "e09d8763fcf825542f07389a1904adf15930451b8661a0de209c3bc39828c2ea",
    "resnet50_l2_eps0.1.ckpt": "3298f8cf689e514d096df883ab491a11ee32c3b8d456d674add29d7b50721a43",
    "resnet50_l2_eps0.5.ckpt": "a5fc6fcc54946b73af7bd74289b0003cc9d2744fa0ff55c1a3d9fb2bce8fbd30",
    "resnet50_l2_eps1.ckpt": "09f5273a568830ae23caf9162a06f4831a920293e0da1801aa182289052dcf90",
    "resnet50_l2_eps3.ckpt": "380b14e6f9750bffa1447cf7017f65da4dc5ce71a3dd112f107515dcf7b14d9d",
    "resnet50_l2_eps5.ckpt": "c50db4bbd9a61bc0e0a33290e1f07a79080e16489aa5ada869efc88306f497be",
    "resnet50_linf_eps0.5.ckpt": "9612d8096ef5378b4a32746072f72fedcb02c7ff4b747bc7163274f7ec2f0fd8",
    "resnet50_linf_eps2.0.ckpt": "59f28de783a049cb4d91ba1c0a09c314db2cc4bb1e859566e023f842b02772ac",
    "resnet50_linf_eps4.0.ckpt": "9e62216975c111b8081481533b6142dec34be69abe5d90b54d7f860015c263db",
    "resnet50_linf_eps8.0.ckpt": "b907957f8e3ce209816813d8811c682e965a1b0f48455def828d35a4cc2953dc",
    "wide_resnet50_2_l2_eps0.01.ckpt": "598f5be2e552bba5c21e3581a68339f5166859d9a959a2c90ce1027ec4abd76c",
    "wide_resnet50_2_l2_eps0.05.ckpt": "c8f12d8ead34232f80d09ca681deba7c42ede5762a7aadd16b7894227b80f1d8",
    "densenet_l2_eps0.ckpt": "eeb85d694d0d7375a76b384c8eaf2281c78400dd79e430e086b57a2caef24475",
    "densenet_l2_eps3.ckpt": "ecd7c9f6f41784f790b41345b38486b834a2a54648a32a06c940264821609e0a",
    "mobilenet_l2_eps0.ckpt": "c0bee2ca75726d83126444b01ab54ae356f9aebb913c4756836ee669de38abcd",
    "resnext50_32x4d_l2_eps0.ckpt": "ad5676d3150b32bde27492d1bc2bc3f75c735b257b479034435eb0acee578604",
    "shufflenet_l2_eps3.ckpt": "dada3e413bd58955375c4916aaa80756e562c6fe5a89525280cb041c8d037c49",
    "vgg16_bn_l2_eps0.ckpt": "88d661f295ff8e72df66668e98c46bdb26b2385e47c798415f1027b407586449",
    "vgg16_bn_l2_eps3.ckpt": "651a1edc842f484112671668dabdc883e85df8ba0e150d5b9866a20f9eb0f33a",
}


def file_name(trained: Trained, norm: str, eps: float) -> str:
    """As published: resnet50_l2_eps3.ckpt, resnet50_l2_eps0.01.ckpt, resnet50_linf_eps4.0.ckpt."""
    return f"{trained.prefix}_l2_eps{eps:g}.ckpt" if norm == "l2" else f"{trained.prefix}_linf_eps{eps:.1f}.ckpt"


def robustness(norm: str, eps: float) -> dict:
    """The spec's robustness, eps in [0,1] pixel units like every radius here (L∞ files are named in 1/255)."""
    return {"norm": norm, "eps": float(eps) if norm == "l2" else eps / 255}


def family(trained: Trained) -> ModelFamily:
    return ModelFamily(f"MadryLab {trained.title}", "MadryLab", PAPER, LICENSE, HUB_REPO, ACCURACY_SOURCE)


def specs():
    """A ModelSpec for every published checkpoint (name, arch, file, robustness, pin, accuracy)."""
    for trained in TRAINED:
        for norm, levels in (("l2", trained.l2), ("linf", trained.linf)):
            for eps, accuracy in levels.items():
                file = file_name(trained, norm, eps)
                yield ModelSpec(f"imagenet-{trained.label}-{norm}-{eps:g}", trained.arch, "imagenet", "hub", file,
                                "madrylab", family(trained), robustness=robustness(norm, eps), sha256=PINS.get(file),
                                clean_accuracy=round(accuracy / 100, 4))


register_models(*specs())
