"""Checkpoints written exactly as MadryLab's `robustness` library writes them (its train.py: sd_info, dill).

The module tree mirrors robustness.attacker.AttackerModel inside torch.nn.DataParallel, so the state dict has the
real keys: `module.normalizer.new_mean/new_std`, `module.model.*` (weights), `module.attacker.model.*` (the same
network again) and `module.attacker.normalize.*`; torchvision architectures (vgg16_bn, densenet, ...) sit in
robustness.model_utils.DummyModel, one `model.` deeper. The file is torch.save(sd_info, pickle_module=dill), in the
zip format or, as torch 1.x wrote it, the legacy one. With SGD momentum buffers a ResNet-18 file is 93.6 MB, the size
of the published resnet18_l2_eps3.ckpt (the attacker's copy shares the weights' storage, the buffers add one copy).
"""
import dill
import torch
import torch.nn as nn

IMAGENET_MEAN, IMAGENET_STD = (0.485, 0.456, 0.406), (0.229, 0.224, 0.225)


class InputNormalize(nn.Module):
    """robustness.helpers.InputNormalize: the mean/std buffers it registers."""

    def __init__(self, mean, std):
        super().__init__()
        self.register_buffer("new_mean", torch.tensor(mean).view(3, 1, 1))
        self.register_buffer("new_std", torch.tensor(std).view(3, 1, 1))


class Attacker(nn.Module):
    """robustness.attacker.Attacker: its own normaliser, then the very model being trained."""

    def __init__(self, model, mean, std):
        super().__init__()
        self.normalize = InputNormalize(mean, std)
        self.model = model


class AttackerModel(nn.Module):
    """robustness.attacker.AttackerModel: normalizer, model, attacker (registered in this order)."""

    def __init__(self, model, mean, std):
        super().__init__()
        self.normalizer = InputNormalize(mean, std)
        self.model = model
        self.attacker = Attacker(model, mean, std)


class DummyModel(nn.Module):
    """robustness.model_utils.DummyModel: how make_and_restore_model(add_custom_forward=True) wraps torchvision nets."""

    def __init__(self, model):
        super().__init__()
        self.model = model


def sd_info(net, *, wrapped=False, adv=True, momentum_buffers=True, mean=IMAGENET_MEAN, std=IMAGENET_STD):
    """train.py's sd_info after the last epoch: model, optimizer, schedule, epoch and the prec1 tensor it logs."""
    model = nn.DataParallel(AttackerModel(DummyModel(net) if wrapped else net, mean, std))
    optimizer = torch.optim.SGD(model.parameters(), lr=0.1, momentum=0.9, weight_decay=1e-4)
    if momentum_buffers:  # what SGD holds after a step, without changing the weights
        for p in model.parameters():
            optimizer.state[p]["momentum_buffer"] = torch.zeros_like(p)
    schedule = torch.optim.lr_scheduler.StepLR(optimizer, step_size=30)
    return {"model": model.state_dict(), "optimizer": optimizer.state_dict(), "schedule": schedule.state_dict(),
            "epoch": 90, f"{'adv' if adv else 'nat'}_prec1": torch.tensor(53.12)}


def save(info: dict, path, legacy: bool = False) -> None:
    """robustness.train's save_checkpoint: torch.save with dill; legacy=True writes torch 1.x's non-zip format."""
    torch.save(info, path, pickle_module=dill, _use_new_zipfile_serialization=not legacy)
