"""NamedTable: a dict of records keyed by their name, whose lookup error names the registered ones."""
from __future__ import annotations

from typing import Iterable, TypeVar

T = TypeVar("T")  # a record with a `name` attribute


class NamedTable(dict[str, T]):
    """name -> record, a dict (read, iterate, pop as one) with register / lookup / unregister.

    what: the record's noun in errors ("task"); records: the first ones, registered in order; listing: the words
    before the registered names in the unknown-name error ("available:"); replace: a second record under a name
    replaces the first, else one that differs from it is refused.
    """

    def __init__(self, what: str, records: Iterable[T] = (), *, listing: str = "available:", replace: bool = False):
        super().__init__()
        self.what, self.listing, self.replace = what, listing, replace
        for record in records:
            self.register(record)

    def register(self, record: T) -> T:
        """Add `record` under its name and return it (ValueError for a different one already there, unless replace)."""
        if not self.replace and record.name in self and self[record.name] != record:
            raise ValueError(f"{self.what} {record.name!r} is already registered")
        self[record.name] = record
        return record

    def lookup(self, name: str) -> T:
        """The record `name` (ValueError naming the registered ones otherwise)."""
        if name not in self:
            raise ValueError(f"unknown {self.what} {name!r}; {self.listing} {', '.join(self)}")
        return self[name]

    def unregister(self, name: str) -> None:
        """Remove `name` (nothing happens when it is not there)."""
        self.pop(name, None)
