"""The start-up in two halves: the web side (widget, API, /healthz) serves before the Telegram side is up, and
what a visitor does in between reaches the manager once the bot is up."""

from __future__ import annotations

import subprocess
import sys

import aiohttp

from app.product import Product
from sandbox.bot_api import FakeBotAPI
from tests.clients import MANAGER, Visitor
from tests.conftest import PROJECT_ROOT, make_settings, start_desk
from tests.procs import TOKEN


def test_the_web_side_imports_no_aiogram() -> None:
    """aiogram's import is most of a cold start: run.py, the product, the widget and support/ load without it."""
    code = ("import sys, run, app.product, app.http, support.service, support.jobs, widget.api, webhook.rest; "
            "loaded = sorted(m for m in sys.modules if m == 'aiogram' or m.startswith('aiogram.')); "
            "print(loaded[:5]); sys.exit(1 if loaded else 0)")
    result = subprocess.run([sys.executable, "-c", code], cwd=PROJECT_ROOT, capture_output=True, text=True,
                            timeout=60)
    assert result.returncode == 0, result.stdout + result.stderr


COMPLETE_EVERY_MODEL = """
import sys
from bot.lazy_models import aiogram_models, import_aiogram

def complete(model):
    try:
        model.__pydantic_validator__.validate_python  # a deferred model completes itself when touched
        model.__pydantic_serializer__.to_python
    except Exception as exc:
        return f"{model.__module__}.{model.__qualname__}: {exc}"
    return None if model.__pydantic_complete__ else f"{model.__qualname__}: still incomplete"

def main():
    import_aiogram()
    models = aiogram_models()
    deferred = sum(not model.__pydantic_complete__ for model in models)
    failures = [failure for failure in map(complete, models) if failure]
    print(len(models), deferred, failures[:5])
    sys.exit(1 if failures or deferred < 400 else 0)

main()
"""


def test_every_aiogram_model_completes_on_first_use() -> None:
    """bot.lazy_models defers aiogram's ~630 models: each must complete, with the names aiogram resolves them in."""
    result = subprocess.run([sys.executable, "-c", COMPLETE_EVERY_MODEL], cwd=PROJECT_ROOT, capture_output=True,
                            text=True, timeout=110)
    assert result.returncode == 0, result.stdout + result.stderr


async def _health(http: aiohttp.ClientSession, product: Product) -> dict[str, object]:
    async with http.get(f"{product.base_url}/healthz") as response:
        assert response.status == 200
        return await response.json()  # type: ignore[no-any-return]


async def test_a_visitor_before_the_bot_is_up_reaches_the_manager_once_it_is(
    clean_database: str, telegram: FakeBotAPI
) -> None:
    env = {"TELEGRAM_BOT_TOKEN": TOKEN, "TELEGRAM_API_BASE": str(telegram.base_url)}
    # A manager is on shift; the desk restarts.
    first = await start_desk(clean_database, **env)
    try:
        await telegram.send_message(MANAGER, "/start")
        await telegram.wait_for_message(MANAGER.id)
        await telegram.send_message(MANAGER, "/online")
        assert "Смена начата" in (await telegram.wait_for_message(MANAGER.id)).text
    finally:
        await first.stop()
    sent_before = len(telegram.messages(MANAGER.id))

    product = Product(make_settings(clean_database, **env))
    await product.serve_web()
    try:
        async with aiohttp.ClientSession() as http:
            health = await _health(http, product)
            assert health["status"] == "ok" and health["starting"] == ["deliveries", "jobs", "telegram"]
            # The widget works: the AI answers, and the visitor asks for a manager.
            visitor = await Visitor(http, product.base_url).start()
            asked = await visitor.send("Сколько стоит аренда автомобиля?")
            answer = await visitor.wait_for(lambda e: e["type"] == "ai_message" and e["id"] > asked["id"])
            assert answer["text"]
            await visitor.send("Нужен оператор, вопрос про мой договор")
            await visitor.transfer(name="Ранний")
            await visitor.wait_for(lambda e: e.get("chat", {}).get("status") == "waiting")
            assert len(telegram.messages(MANAGER.id)) == sent_before  # stored, not sent: no bot yet

            await product.start_telegram()
            assert (await _health(http, product))["starting"] == []
            offer = await telegram.wait_for_message(MANAGER.id, lambda m: "✅ Принять чат" in m.button_texts)
            assert "Ранний" in offer.text and "вопрос про мой договор" in offer.text
    finally:
        await product.stop()
