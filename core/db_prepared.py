"""Selects and inserts of fixed shape whose SQL text is rendered once per database, not on every call."""

from __future__ import annotations

import datetime as dt
from collections.abc import Sequence
from typing import Any

import peewee
import peewee_async


class PreparedSelect:
    """A select of fixed shape whose SQL text is built once per database, not on every call.

    peewee renders SQL in Python each time a query runs; for the few selects every request makes (the visitor's
    session, their open chat, the AI's history) that rendering cost more than the query. `build(*keys)` returns
    the select for given key values; the text rendered for marker keys is kept and run as a raw query with the
    real keys in their places. Only for keys stored as they are given (str, int): a marker must reach the
    parameters unchanged.
    """

    def __init__(self, model: type[peewee.Model], build: Any) -> None:
        self.model = model
        self.build = build
        self._prepared: dict[tuple[Any, ...], tuple[str, list[Any], list[tuple[int, int]]]] = {}

    @staticmethod
    def _marker(key_type: type, position: int) -> Any:
        if key_type is str:
            return f"\x00prepared-key-{position}\x00"
        if key_type is int:
            return -7_340_023_817_215 - position
        raise TypeError(f"a prepared select takes str and int keys, not {key_type.__name__}")

    def _sql(self, key_types: tuple[type, ...]) -> tuple[str, list[Any], list[tuple[int, int]]]:
        # The text depends on the dialect only (placeholders, quoting); the database may be a proxy.
        db = self.model._meta.database
        cache_key = (db.param, db.quote, *key_types)
        prepared = self._prepared.get(cache_key)
        if prepared is None:
            markers = [self._marker(key_type, position) for position, key_type in enumerate(key_types)]
            sql, params = self.build(*markers).sql()
            slots = [(index, markers.index(value)) for index, value in enumerate(params)
                     if type(value) in key_types and value in markers]
            if {position for _, position in slots} != set(range(len(markers))):
                raise ValueError("a key does not reach the query's parameters unchanged")
            prepared = self._prepared[cache_key] = (sql, list(params), slots)
        return prepared

    async def _fetch(self, keys: tuple[str | int, ...]) -> tuple[list[tuple[peewee.Field | None, str]], list[Any]]:
        """The rows, and for each column the model's field for it (None for a column that is no field)."""
        sql, params, slots = self._sql(tuple(type(key) for key in keys))
        values = list(params)
        for slot, position in slots:
            values[slot] = keys[position]
        description, rows = await self.model._meta.database.aio_execute_sql(sql, values,
                                                                             fetch_results=_description_and_rows)
        by_column = self.model._meta.combined
        return [(by_column.get(column[0]), column[0]) for column in description or ()], rows

    async def rows(self, *keys: str | int) -> list[Any]:
        """Model objects, built straight from the rows with the fields' conversions, as peewee's result wrapper
        does, without setting that wrapper up for every query."""
        plan, rows = await self._fetch(keys)
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

    async def tuples(self, *keys: str | int) -> list[tuple[Any, ...]]:
        """The rows as tuples of the selected columns' values: no model objects built."""
        plan, rows = await self._fetch(keys)
        return [tuple(value if field is None else field.python_value(value)
                      for (field, _), value in zip(plan, row, strict=True)) for row in rows]

    async def first(self, *keys: str | int) -> Any:
        rows = await self.rows(*keys)
        return rows[0] if rows else None


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
