"""robust_synth: image synthesis with a single robust classifier, by PGD on its input."""
from .version import __version__  # noqa: E402,F401

from .constraints import L2Ball, LinfBall, Unconstrained  # noqa: E402
from .engine import Cancelled, PGDConfig, PGDResult, pgd  # noqa: E402
from .features import ModelOutput, RobustModel  # noqa: E402
from .models import REGISTRY, ModelSpec, load_model  # noqa: E402
from . import objectives, task_registry, tasks  # noqa: E402,F401 (tasks: importing it registers every task)
from .tasks import top_features  # noqa: E402

globals().update({task.name: task.fn for task in task_registry.all_tasks()})  # every task, under its own name

__all__ = ["__version__", "pgd", "PGDConfig", "PGDResult", "Cancelled", "L2Ball", "LinfBall", "Unconstrained",
           "RobustModel", "ModelOutput", "ModelSpec", "REGISTRY", "load_model", "objectives", "task_registry"]
__all__ += [task.name for task in task_registry.all_tasks()] + ["top_features"]
