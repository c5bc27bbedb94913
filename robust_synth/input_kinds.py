"""The input-kind table: for each kind a task input can declare, its CLI type, app widget and app value converter.

The task registry refuses a kind not in the table; the CLI (`__main__.py`), the app's widgets (`app/widgets.py`),
its endpoints (`app/endpoints.py`, `app/values.py`), share links (`app/result_sharing.py`) and bulk folder runs
(`bulk/task_modes.py`) read it, so a new kind is one `register_kind` call.
"""
from __future__ import annotations

import argparse
from dataclasses import dataclass
from typing import Any, Callable

from . import input_values as iv
from .named_table import NamedTable


def _flag(text: str) -> bool:
    if text.lower() not in ("1", "0", "true", "false", "yes", "no"):
        raise argparse.ArgumentTypeError(f"expected true or false, got {text!r}")
    return text.lower() in ("1", "true", "yes")


def _text_type(item) -> Callable[[str], Any]:
    """A text input's CLI type: its declared type, else its default's, else str."""
    return item.type or (type(item.default) if item.default is not None else str)


def _as_sent(name: str, value):
    return value


@dataclass(frozen=True)
class InputKind:
    """One kind of task input, and how each surface takes it.

    cli_type(item) -> the argparse type of the input's --option. app_value(name, value) -> what the app endpoint
    received, as the library's argument (the library judges the rest). widget: the app's component, either the name
    of a builder in app/widgets.py (the core library does not import gradio) or a callable(item, earlier,
    default_model) -> component, where earlier is the tab's [(Input, component)] built before it. upload: arrives as
    an uploaded file (kept with each shared result, a path under examples/ in an example). picture: a picture the app
    prepares (scaled to its working size; the first one is shown beside the result and read by bulk folder runs).
    """
    name: str
    cli_type: Callable[[Any], Callable[[str], Any]] = lambda item: item.type or str
    app_value: Callable[[str, Any], Any] = _as_sent
    widget: str | Callable = "textbox"
    upload: bool = False
    picture: bool = False


def _file(name: str, value):
    return iv.uploaded_file(value)


BUILT_IN = (
    InputKind("model", widget="model"),                    # a registered model name
    InputKind("class", app_value=lambda name, value: iv.target(value), widget="class"),  # a class name or index
    InputKind("image", app_value=_file, widget="image", upload=True, picture=True),
    InputKind("mask", app_value=_file, widget="mask", upload=True),  # painted on the tab's picture
    InputKind("sketch", app_value=_file, widget="sketch", upload=True, picture=True),  # a file or a drawing
    InputKind("int", lambda item: int, lambda name, value: iv.whole(value), "slider"),  # minimum..maximum
    InputKind("number", lambda item: int, lambda name, value: iv.optional_number(value, name, whole=True),
              "optional_number"),                          # an optional whole number typed as text
    InputKind("feature", lambda item: int, lambda name, value: iv.required_feature(value), "feature"),
    InputKind("bool", lambda item: _flag, widget="checkbox"),
    InputKind("choice", widget="dropdown"),                # one of the input's `choices`
    InputKind("text", _text_type),
)
KINDS: NamedTable[InputKind] = NamedTable("input kind", BUILT_IN, listing="kinds are", replace=True)


def register_kind(kind: InputKind) -> InputKind:
    """Add (or replace) an input kind; every surface reads it from here."""
    return KINDS.register(kind)


def unregister_kind(name: str) -> None:
    KINDS.unregister(name)


def get(name: str) -> InputKind:
    """The kind `name` (ValueError naming the known ones otherwise)."""
    return KINDS.lookup(name)
