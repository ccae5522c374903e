"""Queries and inserts of fixed shape whose SQL text is rendered once per database, not on every call."""

from __future__ import annotations

import datetime as dt
from collections.abc import Sequence
from typing import Any

import peewee
import peewee_async


class PreparedQuery:
    """A query of fixed shape (select, update or delete) whose SQL text is rendered once per dialect.

    peewee renders SQL in Python every time a query runs, and for a wide model's select that rendering costs
    more than the query itself (about half a millisecond for a chat's row on this machine). `build(*values)`
    returns the query for given values; the text rendered for marker values is kept and run as a raw query with
    the real values in the markers' places. Values must reach the parameters unchanged: str, int and datetime
    (the types peewee passes through as given); None and bools change a query's shape, so a caller that has
    them prepares one query per shape.
    """

    def __init__(self, model: type[peewee.Model], build: Any) -> None:
        self.model = model
        self.build = build
        self._prepared: dict[tuple[Any, ...], tuple[str, list[Any], list[tuple[int, int]]]] = {}

    @staticmethod
    def _marker(value_type: type, position: int) -> Any:
        if value_type is str:
            return f"\x00prepared-key-{position}\x00"
        if value_type is int:
            return -7_340_023_817_215 - position
        if value_type is dt.datetime:
            return dt.datetime(1, 1, 1, 0, 0, 0, 700_000 + position)
        raise TypeError(f"a prepared query takes str, int and datetime values, not {value_type.__name__}")

    def _sql(self, value_types: tuple[type, ...]) -> tuple[str, list[Any], list[tuple[int, int]]]:
        # The text depends on the dialect only (placeholders, quoting); the database may be a proxy.
        db = self.model._meta.database
        cache_key = (db.param, db.quote, db.returning_clause, *value_types)
        prepared = self._prepared.get(cache_key)
        if prepared is None:
            markers = [self._marker(value_type, position) for position, value_type in enumerate(value_types)]
            sql, params = self.build(*markers).sql()
            slots = [(index, markers.index(value)) for index, value in enumerate(params)
                     if type(value) in value_types and value in markers]
            if {position for _, position in slots} != set(range(len(markers))):
                raise ValueError("a value does not reach the query's parameters unchanged")
            prepared = self._prepared[cache_key] = (sql, list(params), slots)
        return prepared

    def _statement(self, values: tuple[Any, ...]) -> tuple[str, list[Any]]:
        sql, params, slots = self._sql(tuple(type(value) for value in values))
        filled = list(params)
        for slot, position in slots:
            filled[slot] = values[position]
        return sql, filled

    async def _fetch(self, values: tuple[Any, ...]) -> tuple[list[tuple[peewee.Field | None, str]], list[Any]]:
        """The rows, and for each column the model's field for it (None for a column that is no field)."""
        sql, params = self._statement(values)
        description, rows = await self.model._meta.database.aio_execute_sql(sql, params,
                                                                             fetch_results=_description_and_rows)
        by_column = self.model._meta.combined
        return [(by_column.get(column[0]), column[0]) for column in description or ()], rows

    async def rows(self, *values: Any) -> list[Any]:
        """Model objects (a select's rows, or an update's RETURNING), built straight from the rows with the
        fields' conversions, as peewee's result wrapper does, without setting that wrapper up for every query."""
        plan, rows = await self._fetch(values)
        objects = []
        for row in rows:
            instance = self.model(__no_default__=1)
            data = instance.__data__
            for (field, name), value in zip(plan, row, strict=True):
                if field is None:
                    setattr(instance, name, value)  # a column that is no field of the model (an alias)
                else:
                    data[field.name] = field.python_value(value)
            objects.append(instance)
        return objects

    async def tuples(self, *values: Any) -> list[tuple[Any, ...]]:
        """The rows as tuples of the selected columns' values: no model objects built."""
        plan, rows = await self._fetch(values)
        return [tuple(value if field is None else field.python_value(value)
                      for (field, _), value in zip(plan, row, strict=True)) for row in rows]

    async def first(self, *values: Any) -> Any:
        rows = await self.rows(*values)
        return rows[0] if rows else None

    async def scalar(self, *values: Any) -> Any:
        """The first column of the first row, converted by its field; None when there is no row."""
        rows = await self.tuples(*values)
        return rows[0][0] if rows else None

    async def execute(self, *values: Any) -> int:
        """An update's or delete's count of rows changed."""
        sql, params = self._statement(values)
        return int(await self.model._meta.database.aio_execute_sql(sql, params, fetch_results=_rowcount))


async def _rowcount(db: peewee_async.AioDatabase, cursor: Any) -> int:
    return int(cursor.rowcount)


async def _description_and_rows(db: peewee_async.AioDatabase, cursor: Any) -> tuple[Any, list[Any]]:
    return cursor.description, list(await cursor.fetchall())


class PreparedInsert:
    """An insert of one row into a model's table with fixed columns, its SQL text built once per database.

    `create(**values)` is `Model.aio_create(**values)` for those columns (the model's defaults fill in the rest)
    without peewee rendering the INSERT each time; it returns the model object with its new id. `computed` gives
    columns whose value is an expression of the others' (e.g. a subquery), and `returning` columns whose value
    the database decided are read back onto the object.
    """

    def __init__(self, model: type[peewee.Model], *fields: peewee.Field,
                 computed: dict[peewee.Field, Any] | None = None, returning: Sequence[peewee.Field] = ()) -> None:
        self.model = model
        given = list(fields)
        names = {field.name for field in given}  # (fields compare with == into SQL expressions)
        defaults = [field for field in model._meta.defaults if field.name not in names]
        self.columns: list[peewee.Field] = given + defaults
        self.computed = computed or {}
        self.returning = tuple(returning)
        self._prepared: dict[tuple[Any, ...], tuple[str, list[Any], list[tuple[int, int]], peewee.Insert]] = {}

    @staticmethod
    def _marker(field: peewee.Field, position: int) -> Any:
        # A value of the column's own type, so the field's conversion passes it through unchanged.
        if isinstance(field, peewee.ForeignKeyField | peewee.IntegerField):
            return -7_340_023_817_215 - position
        if isinstance(field, peewee.CharField | peewee.TextField):
            return f"\x00prepared-column-{position}\x00"
        if isinstance(field, peewee.DateTimeField):
            return dt.datetime(1, 1, 1, 0, 0, 0, position)
        raise TypeError(f"a prepared insert takes int, text and datetime columns, not {type(field).__name__}")

    def _sql(self) -> tuple[str, list[Any], list[tuple[int, int]], peewee.Insert]:
        db = self.model._meta.database
        cache_key = (db.param, db.quote, db.returning_clause)
        prepared = self._prepared.get(cache_key)
        if prepared is None:
            markers = [self._marker(field, position) for position, field in enumerate(self.columns)]
            values: dict[peewee.Field, Any] = dict(zip(self.columns, markers, strict=True))
            for field, expression in self.computed.items():
                values[field] = expression(values)
            query = self.model.insert(values)
            if self.returning:
                query = query.returning(self.model._meta.primary_key, *self.returning)
            sql, params = query.sql()
            slots = [(index, markers.index(param)) for index, param in enumerate(params)
                     if any(type(param) is type(marker) and param == marker for marker in markers)]
            if {position for _, position in slots} != set(range(len(markers))):
                raise ValueError("a column's value does not reach the insert's parameters unchanged")
            prepared = self._prepared[cache_key] = (sql, list(params), slots, query)
        return prepared

    async def create(self, **values: Any) -> Any:
        instance = self.model(**values)
        sql, template, slots, query = self._sql()
        data = instance.__data__
        row = [field.db_value(data.get(field.name)) for field in self.columns]
        params = list(template)
        for slot, position in slots:
            params[slot] = row[position]

        async def new_id(db: peewee_async.AioDatabase, cursor: Any) -> Any:
            if not self.returning:
                return await db.aio_last_insert_id(cursor, query)
            returned = await cursor.fetchone()
            for field, value in zip(self.returning, returned[1:], strict=True):
                instance.__data__[field.name] = value
            return returned[0]

        instance.id = await self.model._meta.database.aio_execute_sql(sql, params, fetch_results=new_id)
        return instance
