"""What the app's fields send, as the library's arguments: empty fields, typed numbers, uploaded files, classes."""
from __future__ import annotations

import numbers


def optional_number(value, name: str, whole: bool = False):
    """An optional numeric field: empty (None, "", spaces) -> None, the task's default; "20" / 20.0 -> 20.

    Text boxes send strings, API clients numbers; a whole-number field turns an integral float into an int and
    leaves any other number for the library to judge (it names the field and its allowed range).
    """
    if value is None or (isinstance(value, str) and not value.strip()):
        return None
    if isinstance(value, str):
        try:
            value = float(value.strip())
        except ValueError:
            raise ValueError(f"{name} must be a number or left empty, got {value!r}") from None
    if isinstance(value, bool) or not isinstance(value, numbers.Real):
        raise ValueError(f"{name} must be a number or left empty, got {value!r}")
    if whole and float(value).is_integer():
        return int(value)
    return value if whole else float(value)


def required_feature(feature):
    """A representation feature index; empty is refused with a hint."""
    index = optional_number(feature, "feature", whole=True)
    if index is None:
        raise ValueError("feature is required: give a representation feature index (Suggest picks some)")
    return index


def whole(value):
    """A slider's whole number as an int (2.0 -> 2); anything else is left for the library to judge."""
    return int(value) if isinstance(value, float) and value.is_integer() else value


def target(value):
    """The class picker's value (a name or an index; the library resolves it); None when left empty."""
    return None if value is None or (isinstance(value, str) and not value.strip()) else value


def uploaded_file(payload):
    """An uploaded file's path: the run events skip Gradio's preprocessing so the library reports bad images."""
    if payload is None or isinstance(payload, str):
        return payload
    if not isinstance(payload, dict) or not payload.get("path"):
        raise ValueError(f"expected an uploaded image file, got {type(payload).__name__}")
    return payload["path"]
