"""The project carries the Bot API description it checks itself against, and it covers what the bot calls.

A bare clone (no sibling folders, no TELEGRAM_API_SPEC) must find the spec inside the repository; and since the
sandbox refuses any method missing from it, every Bot API method the code base can call must be in it (this
guards a trimmed or replaced api.json).
"""

from __future__ import annotations

import ast
import json
import subprocess
import sys
from pathlib import Path

import aiogram.methods
import aiogram.types
from aiogram import Bot

from sandbox.spec import ApiSpec, load_spec

PROJECT_ROOT = Path(__file__).resolve().parent.parent
PRODUCT = ["bot", "support", "webhook", "widget", "ai", "core", "run.py", "models.py"]


def test_the_spec_is_found_inside_the_project_without_any_override(tmp_path: Path) -> None:
    probe = ("from sandbox.spec import default_spec_path, load_spec\n"
             "print(default_spec_path()); print(load_spec().version)")
    # Another working directory, no TELEGRAM_API_SPEC, a HOME with nothing in it: only the repository itself.
    env = {"PATH": "/usr/bin:/bin", "PYTHONPATH": str(PROJECT_ROOT), "HOME": str(tmp_path)}
    result = subprocess.run([sys.executable, "-c", probe], cwd=tmp_path, env=env, capture_output=True, text=True,
                            timeout=60, check=False)
    assert result.returncode == 0, result.stderr
    path, version = result.stdout.splitlines()
    assert Path(path) == PROJECT_ROOT / "sandbox" / "spec" / "api.json"
    assert version.startswith("Bot API ")
    licence = (PROJECT_ROOT / "sandbox" / "spec" / "LICENSE").read_text(encoding="utf-8")
    assert licence.startswith("MIT License")


def _api_name(method: object) -> str | None:
    if isinstance(method, type) and issubclass(method, aiogram.methods.TelegramMethod):
        api = getattr(method, "__api_method__", None)
        return api if isinstance(api, str) else None  # the abstract base has a property there
    return None


def _aiogram_api_methods() -> dict[str, set[str]]:
    """Each name the code could call or pass → the Bot API methods it may mean (generous on purpose)."""
    meaning: dict[str, set[str]] = {}
    classes = {name: cls for name, cls in vars(aiogram.methods).items() if _api_name(cls)}
    for class_name, cls in classes.items():
        api = _api_name(cls)
        assert api is not None
        meaning.setdefault(api, set()).add(api)  # a method named in a string, as the outbox stores it
        meaning.setdefault(class_name, set()).add(api)  # aiogram.methods.SendMessage(...)
        snake = "".join(f"_{c.lower()}" if c.isupper() else c for c in api).lstrip("_")
        if hasattr(Bot, snake):
            meaning.setdefault(snake, set()).add(api)  # bot.send_message(...)
    for type_ in vars(aiogram.types).values():
        if not (isinstance(type_, type) and issubclass(type_, aiogram.types.TelegramObject)):
            continue
        # A copy: reading a deferred model's validator (bot/lazy_models.py) completes the model, adding attributes.
        for attr, function in list(vars(type_).items()):
            returns = getattr(function, "__annotations__", {}).get("return")
            returns = getattr(aiogram.methods, returns, None) if isinstance(returns, str) else returns
            if _api_name(returns):
                meaning.setdefault(attr, set()).add(str(_api_name(returns)))  # message.answer(...) shortcuts
    return meaning


# What aiogram's Dispatcher calls on the bot's behalf when the code starts polling (start_polling).
_CALLED_FOR_US = {"getMe", "getUpdates"}


def methods_the_code_base_calls() -> set[str]:
    """Every Bot API method the product's code can reach: calls on the bot or on aiogram objects, and names."""
    meaning = _aiogram_api_methods()
    used: set[str] = set(_CALLED_FOR_US)
    files = [p for entry in PRODUCT for p in ((PROJECT_ROOT / entry).rglob("*.py") if (PROJECT_ROOT / entry).is_dir()
                                                else [PROJECT_ROOT / entry])]
    for path in files:
        for node in ast.walk(ast.parse(path.read_text(encoding="utf-8"), str(path))):
            if isinstance(node, ast.Call) and isinstance(node.func, ast.Attribute | ast.Name):
                name = node.func.attr if isinstance(node.func, ast.Attribute) else node.func.id
                used |= meaning.get(name, set())
            elif isinstance(node, ast.Constant) and node.value in meaning.get(str(node.value), ()):
                used.add(str(node.value))  # "sendMessage" handed to the outbox
    return used


def missing_from(spec: ApiSpec) -> set[str]:
    return {name for name in methods_the_code_base_calls() if spec.method(name) is None}


def test_every_bot_api_method_the_code_base_calls_is_in_the_vendored_spec() -> None:
    used = methods_the_code_base_calls()
    # What the product is known to do: the check must see at least these, or it is looking at nothing.
    assert {"sendMessage", "editMessageText", "answerCallbackQuery", "setMyCommands", "sendPhoto",
            "sendDocument"} <= used, used
    assert missing_from(load_spec()) == set()


def test_the_coverage_check_notices_a_trimmed_spec(tmp_path: Path) -> None:
    raw = json.loads((PROJECT_ROOT / "sandbox" / "spec" / "api.json").read_text(encoding="utf-8"))
    del raw["methods"]["editMessageText"]
    trimmed = tmp_path / "api.json"
    trimmed.write_text(json.dumps(raw), encoding="utf-8")
    assert missing_from(load_spec(trimmed)) == {"editMessageText"}
