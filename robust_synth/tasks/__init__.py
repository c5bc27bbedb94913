"""One module per synthesis task; each declares its task in the registry. Importing this package registers them all."""
import importlib
import pkgutil

from .. import task_registry

PLUMBING = ("framing", "inputs", "metrics", "recipe", "regions", "resolve", "run", "settings", "style_settings",
            "windows")  # not tasks

for _module in pkgutil.iter_modules(__path__):
    if _module.name not in PLUMBING:
        importlib.import_module(f"{__name__}.{_module.name}")

globals().update({task.name: task.fn for task in task_registry.all_tasks()})
from .feature_painting import top_features  # noqa: E402 (not a task: a helper for choosing a feature)

__all__ = [task.name for task in task_registry.all_tasks()] + ["top_features"]
