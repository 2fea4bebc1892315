"""THE task registry: one module per task, each registering one :class:`TaskSpec`.

A task's labels, dataset layouts, shipped models and their weights folder, bundled samples,
title, caveat and (for fetal head) its extra scoring are written once, in its module here.
Pages, ``train.*``, the model lab and the benchmark dispatch through :func:`get_task`.

Adding a task: a module ``core/tasks/<name>.py`` that calls :func:`register_task`, one import
line below, and a small page (see the README's "Adding a task").
"""
from __future__ import annotations

from core.tasks.spec import TASKS, ScreeningRow, TaskSpec, get_task, register_task, task_names

# isort: off
# Registration order is the order pages and tables list the tasks in.
from core.tasks import fetal_head  # noqa: E402,F401
from core.tasks import nerve  # noqa: E402,F401
from core.tasks import brain_tumor  # noqa: E402,F401
from core.tasks import face_regions  # noqa: E402,F401
from core.tasks import face_screening  # noqa: E402,F401
# isort: on

__all__ = ["TASKS", "ScreeningRow", "TaskSpec", "get_task", "register_task", "task_names"]
