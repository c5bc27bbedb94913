"""Bulk synthesis: a task over many items on one or many processes (torchrun), resumable, with a manifest."""
from .plan import Item, item_seed
from .runner import BulkRun, execute
from .task_modes import bulk_tasks

__all__ = ["BulkRun", "Item", "bulk_tasks", "execute", "item_seed"]
