"""raspa's operations CLI (``python -m ops``): lanes, queues, the dead-letter queue and tasks.

Not part of the Lambda package: it runs on an operator's machine (or next to the local
stack) and builds raspa's services with ``Services.build``, as the functions do.

``connect``     where the commands go (AWS, or ``--local`` from ``.raspa/local.json``)
``queues``      what each queue and lane holds (``status``), emptying one (``purge``)
``letters``     what a dead letter is and where it goes back to (pure)
``dlq``         reading dead letters (``dlq``) and sending them back (``redrive``)
``tasks``       reading tasks (``task``), cancelling a batch (``cancel``)
``commands``    each command's output and exit code
``output``      tables, times, the console
``cli``         the command line and ``main``
"""

from ops.cli import main
from ops.connect import Ops, OpsError
from ops.dlq import Redriven, RedriveReport, peek, redrive, redrive_by_move_task
from ops.queues import fail_lane, lane_counts, purge, queue_counts
from ops.tasks import cancel, failures, read_tasks, task_view

__all__ = [
    "Ops",
    "OpsError",
    "RedriveReport",
    "Redriven",
    "cancel",
    "fail_lane",
    "failures",
    "lane_counts",
    "main",
    "peek",
    "purge",
    "queue_counts",
    "read_tasks",
    "redrive",
    "redrive_by_move_task",
    "task_view",
]
