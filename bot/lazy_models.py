"""aiogram imported with its pydantic models completed on first use instead of all at import.

aiogram declares ~630 pydantic models (Bot API types and methods) and, at import, completes every one of them
(`aiogram.types` calls `model_rebuild` on each; each method class is completed as it is defined). That is 85 % of
its import, most of the product's start, and the product uses a few dozen of them. Here aiogram is imported with
that completion deferred: each model is completed by pydantic the first time it is used (pydantic's own
`defer_build` path), resolving names in the namespace aiogram gave `model_rebuild`, so the result is the model
aiogram would have built. `warm()` completes the models every update and every send needs, off the event loop.
"""

from __future__ import annotations

import sys
from collections.abc import Iterator
from contextlib import contextmanager
from typing import Any

from pydantic import BaseModel
from pydantic._internal import _mock_val_ser, _model_construction


def _aiogram_model(cls: type) -> bool:
    return cls.__module__.startswith("aiogram.")


@contextmanager
def _completion_deferred() -> Iterator[dict[str, Any]]:
    """While aiogram is imported: its models are left incomplete (pydantic's mocks, which complete the model when
    first touched) and the namespace its `model_rebuild` calls pass is kept for that completion."""
    namespace: dict[str, Any] = {}
    complete = _model_construction.complete_model_class
    rebuild = BaseModel.__dict__["model_rebuild"]

    def leave_incomplete(cls: type[BaseModel], *args: Any, **kwargs: Any) -> bool:
        if not _aiogram_model(cls):
            return complete(cls, *args, **kwargs)
        _mock_val_ser.set_model_mocks(cls)
        return False

    def remember_namespace(cls: type[BaseModel], *args: Any, _types_namespace: Any = None, **kwargs: Any) -> Any:
        if _types_namespace is not None and _aiogram_model(cls):
            namespace.update(_types_namespace)
            return None
        return rebuild.__func__(cls, *args, _types_namespace=_types_namespace, **kwargs)

    _model_construction.complete_model_class = leave_incomplete
    BaseModel.model_rebuild = classmethod(remember_namespace)  # type: ignore[method-assign,assignment]
    try:
        yield namespace
    finally:
        _model_construction.complete_model_class = complete
        BaseModel.model_rebuild = rebuild  # type: ignore[method-assign]


def aiogram_models() -> list[type[BaseModel]]:
    """Every pydantic model class aiogram defines (types, methods and the rest), as loaded now."""
    found: dict[type[BaseModel], None] = {}
    for name, module in list(sys.modules.items()):
        if module is None or not name.startswith("aiogram."):
            continue
        for value in list(vars(module).values()):
            if isinstance(value, type) and issubclass(value, BaseModel) and _aiogram_model(value):
                found[value] = None
    return list(found)


def import_aiogram() -> None:
    """Imports aiogram with model completion deferred (nothing to do when it is imported already)."""
    if "aiogram" in sys.modules:
        return
    if not (hasattr(_model_construction, "complete_model_class") and hasattr(_mock_val_ser, "set_model_mocks")):
        import aiogram  # a pydantic without these internals: the plain, slower import

        return
    with _completion_deferred() as namespace:
        import aiogram  # noqa: F401
    for model in aiogram_models():
        if not model.__pydantic_complete__:
            # Where pydantic resolves the model's names when it completes it: aiogram's own namespace of every
            # type (types, methods and their nested types name each other under TYPE_CHECKING only).
            model.__pydantic_parent_namespace__ = {**namespace, **(model.__pydantic_parent_namespace__ or {})}


# The parametrized answer models warm() built: pydantic caches those classes weakly, so they are held here (as
# bot.session holds each one it meets) or the first real call would build them again.
_warmed: list[type[BaseModel]] = []


def warm() -> None:
    """Completes the models each update and each send goes through, so the event loop never has to."""
    from aiogram.methods.base import Response
    from aiogram.types import Message, Update

    for model in (Update, Response[list[Update]], Response[Message], Response[bool]):
        model.__pydantic_validator__.validate_python  # noqa: B018 (touching it completes the model)
        _warmed.append(model)
