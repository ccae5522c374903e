"""Loading the official Bot API description (api.json) and coercing wire values by it.

The fake validates every request against the same machine-readable spec that
describes the real server, so a field the bot sends that Telegram would not
know about shows up in tests instead of in production.
"""

from __future__ import annotations

import json
import os
from dataclasses import dataclass, field
from functools import lru_cache
from pathlib import Path
from typing import Any

# The project carries its own copy of Telegram's description (MIT, see spec/LICENSE): a bare clone must work.
VENDORED_SPEC = Path(__file__).resolve().parent / "spec" / "api.json"


def default_spec_path() -> Path:
    env = os.environ.get("TELEGRAM_API_SPEC")
    if env:
        return Path(env)
    return VENDORED_SPEC


@dataclass(frozen=True)
class FieldSpec:
    name: str
    types: tuple[str, ...]
    required: bool

    @property
    def accepts_file(self) -> bool:
        return "InputFile" in self.types

    @property
    def is_scalar_string(self) -> bool:
        return self.types == ("String",)


@dataclass(frozen=True)
class MethodSpec:
    name: str
    returns: tuple[str, ...]
    fields: dict[str, FieldSpec] = field(default_factory=dict)


@dataclass(frozen=True)
class ApiSpec:
    version: str
    methods: dict[str, MethodSpec]
    # Telegram treats method names case-insensitively, so lookups go through this index.
    by_lower: dict[str, str]
    update_types: tuple[str, ...]

    def method(self, name: str) -> MethodSpec | None:
        canonical = self.by_lower.get(name.lower())
        return self.methods.get(canonical) if canonical else None


@lru_cache(maxsize=8)
def _load(resolved: str) -> ApiSpec:
    # The file is ~900 KB; caching per path keeps per-test FakeBotAPI construction cheap.
    raw = json.loads(Path(resolved).read_text(encoding="utf-8"))
    methods: dict[str, MethodSpec] = {}
    for name, body in raw["methods"].items():
        fields = {
            f["name"]: FieldSpec(f["name"], tuple(f["types"]), bool(f["required"]))
            for f in body.get("fields", [])
        }
        methods[name] = MethodSpec(name, tuple(body.get("returns", [])), fields)
    update_types = tuple(f["name"] for f in raw["types"]["Update"]["fields"] if f["name"] != "update_id")
    return ApiSpec(
        version=str(raw.get("version", "")),
        methods=methods,
        by_lower={name.lower(): name for name in methods},
        update_types=update_types,
    )


class SpecError(RuntimeError):
    """The Bot API description is missing or unreadable: the sandbox cannot check calls, so it cannot start."""


def load_spec(path: Path | None = None) -> ApiSpec:
    target = (path or default_spec_path()).resolve()
    if path is None and os.environ.get("TELEGRAM_API_SPEC"):
        where = "TELEGRAM_API_SPEC points there; unset it to use the project's sandbox/spec/api.json"
    else:
        where = "the project ships sandbox/spec/api.json; TELEGRAM_API_SPEC overrides it"
    if not target.is_file():
        raise SpecError(f"Bot API spec not found at {target} ({where})")
    try:
        return _load(str(target))
    except (OSError, ValueError, KeyError, TypeError) as exc:
        raise SpecError(f"Bot API spec at {target} is unreadable ({type(exc).__name__}: {exc}; {where})") from exc


class CoercionError(ValueError):
    """A wire value that cannot be read as the type the spec declares."""


_TRUE = {"true", "1", "yes", "on"}
_FALSE = {"false", "0", "no", "off", ""}


def coerce(spec: FieldSpec, value: Any) -> Any:
    """Turn a form/query string (or a JSON-body value) into the Python value Telegram would see.

    Form bodies carry everything as strings: aiogram sends scalars verbatim and
    objects/arrays as JSON text, so object-typed fields are JSON-decoded here.
    """
    types = spec.types
    if not isinstance(value, str):
        return value
    if "Integer" in types:
        try:
            return int(value)
        except ValueError:
            if "String" in types:
                return value
            raise CoercionError(f'field "{spec.name}" must be an Integer') from None
    if "Float" in types:
        try:
            return float(value)
        except ValueError:
            raise CoercionError(f'field "{spec.name}" must be a Float') from None
    if types == ("Boolean",):
        lowered = value.strip().lower()
        if lowered in _TRUE:
            return True
        if lowered in _FALSE:
            return False
        raise CoercionError(f'field "{spec.name}" must be a Boolean')
    if "String" in types:
        return value
    if types == ("InputFile",):
        return value
    try:
        return json.loads(value)
    except json.JSONDecodeError:
        raise CoercionError(f"can't parse {spec.name} JSON object") from None
