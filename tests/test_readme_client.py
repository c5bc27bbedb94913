"""The README's gradio_client examples name only endpoints and parameters the app has, and every task endpoint."""
import ast
import re
from pathlib import Path

import pytest

from robust_synth import task_registry

README = Path(__file__).resolve().parent.parent / "README.md"


def readme_client_calls() -> list[tuple[str, set[str], int]]:
    """(api_name, keyword names, positional count) of each client.predict(...) in the README's gradio_client blocks."""
    blocks = re.findall(r"```python\n(.*?)```", README.read_text(), flags=re.S)
    client_blocks = [b for b in blocks if "from gradio_client import" in b]
    assert client_blocks, "the README has no gradio_client example"
    calls = []
    for node in (node for block in client_blocks for node in ast.walk(ast.parse(block))):
        if isinstance(node, ast.Call) and getattr(node.func, "attr", None) == "predict":
            keywords = {k.arg: k.value for k in node.keywords}
            calls.append((keywords.pop("api_name").value, set(keywords), len(node.args)))
    return calls


@pytest.fixture(scope="module")
def api():
    import app
    return app.build_demo().get_api_info()["named_endpoints"]


def test_every_readme_call_matches_an_endpoint_and_its_parameters(api):
    """Catches a renamed endpoint or parameter that the README still shows (its users copy it as is)."""
    calls = readme_client_calls()
    assert len(calls) >= len(task_registry.all_tasks())
    for api_name, keywords, positional in calls:
        assert api_name in api, f"README calls {api_name}, which the app does not have"
        names = [p["parameter_name"] for p in api[api_name]["parameters"]]
        assert keywords <= set(names), f"{api_name}: README passes {sorted(keywords - set(names))}, not parameters"
        assert positional <= len(names)


def test_the_readme_shows_every_task_endpoint():
    """Catches a new task whose endpoint the README's client example never shows."""
    shown = {api_name for api_name, _, _ in readme_client_calls()}
    assert {f"/{task.name}" for task in task_registry.all_tasks()} <= shown
