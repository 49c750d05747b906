"""Statements built with SQLAlchemy, compiled once per dialect, run on the driver's own cursor.

The reply path runs five statements per customer reply. Through a SQLAlchemy ``Connection`` each
one paid about 50 µs of Python on top of the driver (execution context, parameter processing,
result wrapping), a third of a reply's CPU in all. SQLAlchemy still writes the SQL here, for
SQLite and PostgreSQL alike, and still converts the values: each parameter goes through its
column type's own bind processor and each selected column through its result processor, the
functions SQLAlchemy itself would call. Only the per-execution bookkeeping is left out.

:class:`RawTransaction` is one pooled connection used through its DBAPI cursor; a duplicate key
surfaces as SQLAlchemy's :class:`~sqlalchemy.exc.IntegrityError`, as from any other query.
"""

from __future__ import annotations

from collections.abc import Callable, Iterator, Mapping, Sequence
from contextlib import contextmanager
from typing import Any, cast

from sqlalchemy import Connection, Engine
from sqlalchemy.engine import Dialect
from sqlalchemy.exc import IntegrityError
from sqlalchemy.sql.compiler import SQLCompiler
from sqlalchemy.sql.expression import ClauseElement, Select

Processor = Callable[[Any], Any]
_FROM_CALLER = object()  # a bind whose value the caller gives


class Prepared:
    """One statement's SQL for a dialect, with how to fill and read it."""

    def __init__(
        self, statement: ClauseElement, dialect: Dialect, keys: Sequence[str] | None = None
    ) -> None:
        compiled = cast(
            SQLCompiler,
            statement.compile(dialect=dialect, column_keys=list(keys) if keys else None),
        )
        self.sql = compiled.string
        self.positional = bool(compiled.positional)
        names = list(compiled.positiontup or ()) if self.positional else list(compiled.binds)
        self._names = names
        # (name, processor, literal): a bind is filled from the caller's values by name, unless
        # it is a literal written into the statement (``status == "sent"``), kept as given.
        self._binds: list[tuple[str, Processor | None, Any]] = []
        for name in names:
            bind = compiled.binds[name]
            processor = bind.type.dialect_impl(dialect).bind_processor(dialect)
            literal: Any = _FROM_CALLER
            if not bind.required and bind.callable is None and name not in (keys or ()):
                literal = processor(bind.value) if processor is not None else bind.value
            self._binds.append((name, processor, literal))
        self._results: list[tuple[int, Processor]] = []
        if isinstance(statement, Select):
            for index, column in enumerate(statement.selected_columns):
                reader = column.type.dialect_impl(dialect).result_processor(dialect, None)
                if reader is not None:
                    self._results.append((index, reader))

    def parameters(self, values: Mapping[str, Any]) -> Sequence[Any] | dict[str, Any]:
        filled: list[Any] = []
        for name, processor, literal in self._binds:
            if literal is not _FROM_CALLER:
                filled.append(literal)
                continue
            try:
                value = values[name]
            except KeyError:
                raise KeyError(f"no value for the bind parameter {name!r}") from None
            filled.append(processor(value) if processor is not None else value)
        return filled if self.positional else dict(zip(self._names, filled, strict=True))

    def row(self, raw: Sequence[Any] | None) -> tuple[Any, ...] | None:
        if raw is None:
            return None
        if not self._results:
            return tuple(raw)
        row = list(raw)
        for index, reader in self._results:
            row[index] = reader(row[index])
        return tuple(row)


class RawTransaction:
    """A pooled connection driven through its DBAPI cursor; see :func:`raw_transaction`."""

    def __init__(self, cursor: Any, integrity_error: type[BaseException]) -> None:
        self._cursor = cursor
        self._integrity_error = integrity_error

    def execute(self, prepared: Prepared, values: Mapping[str, Any]) -> int:
        """Run a write; returns the number of rows it touched."""
        self._run(prepared, values)
        return int(self._cursor.rowcount)

    def first(self, prepared: Prepared, values: Mapping[str, Any]) -> tuple[Any, ...] | None:
        self._run(prepared, values)
        return prepared.row(self._cursor.fetchone())

    def all(self, prepared: Prepared, values: Mapping[str, Any]) -> list[tuple[Any, ...]]:
        self._run(prepared, values)
        rows = (prepared.row(raw) for raw in self._cursor.fetchall())
        return [row for row in rows if row is not None]

    def query(self, sql: str, parameters: Sequence[Any]) -> list[tuple[Any, ...]]:
        """Run SQL put together from prepared parts, its values already converted; its rows."""
        self._send(sql, parameters)
        return [tuple(row) for row in self._cursor.fetchall()]

    def _run(self, prepared: Prepared, values: Mapping[str, Any]) -> None:
        self._send(prepared.sql, prepared.parameters(values))

    def _send(self, sql: str, parameters: Sequence[Any] | Mapping[str, Any]) -> None:
        try:
            self._cursor.execute(sql, parameters)
        except self._integrity_error as exc:
            raise IntegrityError(sql, parameters, exc) from exc


@contextmanager
def raw_transaction(engine: Engine) -> Iterator[RawTransaction]:
    """One transaction on a pooled connection: committed when the block ends, rolled back when
    it raises; the connection goes back to the pool either way."""
    connection = engine.raw_connection()
    try:
        cursor = connection.cursor()
        try:
            integrity_error = engine.dialect.loaded_dbapi.IntegrityError
            yield RawTransaction(cursor, integrity_error)
            try:
                connection.commit()
            except integrity_error as exc:
                raise IntegrityError("COMMIT", None, exc) from exc
        except BaseException:
            connection.rollback()
            raise
        finally:
            cursor.close()
    finally:
        connection.close()


@contextmanager
def raw_in(connection: Connection) -> Iterator[RawTransaction]:
    """The same statements inside a SQLAlchemy connection's own transaction (which it ends)."""
    cursor = connection.connection.cursor()
    try:
        yield RawTransaction(cursor, connection.dialect.loaded_dbapi.IntegrityError)
    finally:
        cursor.close()
