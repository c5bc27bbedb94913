"""NamedTable (named_table.py): the registry behind the architecture, checkpoint-format, input-kind and task tables."""
from dataclasses import dataclass

import pytest

from robust_synth import architectures, input_kinds, task_registry
from robust_synth.named_table import NamedTable


@dataclass(frozen=True)
class Record:
    name: str
    value: int = 0


def test_an_unknown_name_is_refused_naming_the_registered_ones():
    table = NamedTable("widget", [Record("a"), Record("b")])
    with pytest.raises(ValueError) as info:
        table.lookup("c")
    assert str(info.value) == "unknown widget 'c'; available: a, b"
    assert table.lookup("b") == Record("b") and list(table) == ["a", "b"]
    with pytest.raises(ValueError, match="^unknown task 'c'; tasks are a$"):
        NamedTable("task", [Record("a")], listing="tasks are").lookup("c")


def test_a_second_record_under_a_name_is_refused_unless_the_table_replaces():
    table = NamedTable("widget", [Record("a", 1)])
    assert table.register(Record("a", 1)) == Record("a", 1)  # the same record again is no conflict
    with pytest.raises(ValueError, match="^widget 'a' is already registered$"):
        table.register(Record("a", 2))
    assert table["a"] == Record("a", 1)
    replacing = NamedTable("widget", [Record("a", 1)], replace=True)
    assert replacing.register(Record("a", 2)) == Record("a", 2) and replacing["a"] == Record("a", 2)


def test_unregister_removes_a_name_and_ignores_a_missing_one():
    table = NamedTable("widget", [Record("a"), Record("b")])
    table.unregister("a")
    table.unregister("never")
    assert list(table) == ["b"]
    with pytest.raises(ValueError, match="unknown widget 'a'; available: b"):
        table.lookup("a")


def test_the_library_tables_keep_their_wording():
    with pytest.raises(ValueError, match="^unknown input kind 'colour'; kinds are model, class, "):
        input_kinds.get("colour")
    with pytest.raises(ValueError, match="^unknown task 'nothing'; tasks are "):
        task_registry.get("nothing")
    with pytest.raises(ValueError, match="^unknown architecture 'resnet9000'; available: cifar_resnet, "):
        architectures.get_architecture("resnet9000")
