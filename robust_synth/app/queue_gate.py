"""The queue's door: before Gradio queues a task request, the expected-wait policy (admission.py) may refuse it.

Gradio 6.31's queue refuses only by count (max_size), with a fixed "Queue is full" that neither the page nor
gradio_client lets us reword. So the app wraps its queue's push: a request the policy refuses is registered as
usual and at once completed with a gr.Error saying how long the wait would have been, which the page shows as an
error and gradio_client raises as AppError, like any other refusal. Other events (the page's own) pass untouched.
"""
import logging

import gradio as gr
from gradio import route_utils
from gradio.server_messages import ProcessCompletedMessage
from gradio.utils import error_payload

from .. import limits
from .admission import ADMISSION, QueueTooLong

TASK_QUEUE = "gpu"  # the concurrency id every task endpoint shares (tabs.wire)
log = logging.getLogger("robust_synth.app")


def install(demo: gr.Blocks) -> None:
    """Admission by expected wait on `demo`'s queue (call after demo.queue())."""
    queue, push = demo._queue, demo._queue.push

    async def admitted_push(body, request, username):
        refusal = refusal_for(queue, body)
        ok, event_id, state = await push(body, request, username)
        if ok and refusal is not None:
            refuse(queue, event_id, refusal)
        return ok, event_id, state

    queue.push = admitted_push


def refusal_for(queue, body) -> str | None:
    """The refusal message for a task request whose expected wait is over the time limit, else None."""
    if body.fn_index is None:
        return None
    fn = route_utils.get_fn(queue.blocks, None, body)
    if fn.concurrency_id != TASK_QUEUE:
        return None
    waiting = queue.event_queue_per_concurrency_id.get(TASK_QUEUE)
    workers = waiting.concurrency_limit if waiting else fn.concurrency_limit
    if not isinstance(workers, int):  # no limit on concurrency: nobody waits
        return None
    try:
        ADMISSION.admit([event.fn.api_name for event in (waiting.queue if waiting else [])], workers,
                        limits.current().max_seconds)
    except QueueTooLong as refused:
        log.warning("request refused: %s", refused)
        return str(refused)
    return None


def refuse(queue, event_id: str, message: str) -> None:
    """Take the just-queued event out of the queue and complete it with the refusal."""
    event = queue.event_ids_to_events.pop(event_id)
    queue.event_queue_per_concurrency_id[event.concurrency_id].queue.remove(event)
    error = gr.Error(message, title="The app is busy", print_exception=False)
    queue.send_message(event, ProcessCompletedMessage(output=error_payload(error, True), title=error.title,
                                                      success=False))
