"""Library errors as the app's one-sentence gr.Error: user mistakes log one line, faults log their traceback."""
import logging

import gradio as gr

USER_ERRORS = (ValueError, TypeError, FileNotFoundError)  # bad input, unknown names, weights that cannot be had

log = logging.getLogger("robust_synth.app")


class clear_errors:
    """Library errors -> gr.Error with the library's one-sentence message.

    Errors the user caused (bad input, an unusable model) log one line; anything else is a fault and logs its
    traceback. Gradio is told not to print the traceback again.
    """

    def __enter__(self):
        return self

    def __exit__(self, kind, error, tb):
        if error is None or isinstance(error, GeneratorExit) or not isinstance(error, Exception):
            return False
        if isinstance(error, gr.Error):
            log.warning("request refused: %s", error.message)
            error.print_exception = False
            return False
        if isinstance(error, USER_ERRORS):
            log.warning("request refused: %s", error)
        else:
            log.error("request failed", exc_info=(kind, error, tb))
        raise gr.Error(str(error) or kind.__name__, print_exception=False) from error
