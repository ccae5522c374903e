"""The /sandbox page and the chat widget side by side in a real Chromium, against the running product.

Two browser windows at once: a visitor on the demo page `/` and a person in `/sandbox` acting as a manager (or a
stranger) of the real aiogram bot, which talks to the in-process fake Telegram. Everything on the sandbox side is
done the way a trainee does it: typing commands and replies, pressing inline buttons, quoting a message. Only
what another Telegram client would do (a colleague taking a chat, the same manager on a second device) goes
through the fake directly. The last test pins a race in the page: a late response must not roll the view back.
A screenshot of each state goes to tests/artifacts/.
"""

from __future__ import annotations

import re

import pytest
from playwright.sync_api import (
    APIResponse,
    Browser,
    Page,
    Route,
    expect,
)

from tests.browser import ACCEPT, CLOSE, WAIT, ask, ask_ai, open_chat, shot
from tests.clients import SECOND_MANAGER
from tests.conftest import LiveServer, Opener
from tests.sandbox_page import (
    CALL,
    DETAILS,
    INVITE,
    REPLY,
    TEMPLATES,
    TRANSFER,
    accept,
    bot_says,
    buttons,
    manager_starts_shift,
    offer_card,
    open_sandbox,
    persona_id,
    persona_name,
    press,
    shot_both,
    switch_persona,
    type_to_bot,
    until,
    visitor_asks_for_manager,
)

pytestmark = pytest.mark.browser


# ---------------------------------------------------------------- tests


def test_training_flow_accept_reply_details_close(live_server: LiveServer, open_page: Opener) -> None:
    manager = persona_name(live_server, "manager")
    sandbox = open_sandbox(open_page, persona_id(live_server, "manager"))
    manager_starts_shift(sandbox)
    shot(sandbox, "sandbox-01-shift-started")

    # The visitor talks to the AI, then asks for a person and leaves a name and phone.
    visitor = open_page("/")
    open_chat(visitor)
    ask_ai(visitor, "Какие документы нужны для подключения?")
    visitor_asks_for_manager(visitor, name="Пётр", phone="+7 (900) 123-45-67")
    expect(visitor.locator(".ilpo-status")).to_have_text("Ищем менеджера…")

    # The notification arrives in the sandbox: bold title, the AI's last answers, the offer's buttons.
    card = offer_card(sandbox)
    expect(card).to_contain_text("👤 Клиент: Пётр")
    # The exchange: the question, then the AI's answer with its Markdown as Telegram formatting.
    expect(card.locator(".bubble b", has_text="ИИ:")).to_be_visible()
    expect(card).to_contain_text("• паспорт")
    expect(buttons(card)).to_have_text([ACCEPT, DETAILS, CALL])
    shot_both(visitor, sandbox, "sandbox-02-offer")

    # Accept: the same message is edited into the working card.
    accept(card, sandbox)
    expect(buttons(card)).to_have_text([REPLY, DETAILS, TEMPLATES, CALL, TRANSFER, INVITE, CLOSE])
    expect(visitor.locator(".ilpo-status")).to_contain_text(manager)
    shot_both(visitor, sandbox, "sandbox-03-accepted")

    # Reply mode: what the manager types goes to the widget, signed with the manager's name.
    type_to_bot(sandbox, "Здравствуйте, Пётр! Поможем с подключением.", "Отправлено клиенту")
    reply = visitor.locator(".manager-message[data-id]")
    expect(reply).to_have_count(1)
    expect(reply.locator(".ilpo-author")).to_have_text(manager)
    expect(reply).to_contain_text("Поможем с подключением.")

    # The visitor answers; the sandbox shows it with the client's name in bold and quick-action buttons.
    ask(visitor, "Спасибо! А права другой страны подойдут?")
    relayed = bot_says(sandbox, "права другой страны")
    expect(relayed.locator(".bubble b")).to_have_text("Пётр")
    expect(buttons(relayed)).to_have_text([REPLY, DETAILS])
    shot_both(visitor, sandbox, "sandbox-04-conversation")

    # Details: the whole history, each side labelled.
    press(card, DETAILS)
    history = bot_says(sandbox, "История:")
    expect(history.locator(".bubble b").first).to_have_text(re.compile(r"^Чат #\d+$"))
    for line in ("💬 в работе", "Какие документы нужны для подключения?", "паспорт",
                 "Здравствуйте, Пётр! Поможем с подключением.", "Спасибо! А права другой страны подойдут?"):
        expect(history).to_contain_text(line)
    expect(history.locator(".bubble b", has_text=f"🧑‍💼 {manager}")).to_be_visible()
    expect(buttons(history)).to_have_text([REPLY, CLOSE])
    shot(sandbox, "sandbox-05-details")

    # Close: a toast in the sandbox, a confirmation, and the widget tells the visitor.
    press(card, CLOSE)
    press(bot_says(sandbox, "Завершить чат #"), "Да, завершить")
    expect(sandbox.locator("#toast")).to_contain_text("завершён")
    bot_says(sandbox, "Клиент уведомлён")
    closing = visitor.locator(".system-message[data-id]").last
    expect(closing).to_contain_text(f"{manager}, менеджер, завершает чат")
    expect(visitor.locator(".ilpo-status")).to_have_text("ИИ-консультант онлайн")
    expect(visitor.locator(".ilpo-manager-btn")).to_be_visible()
    shot_both(visitor, sandbox, "sandbox-06-closed")

    # The details message still offers «🔚 Завершить»; pressed now, the bot refuses with show_alert, which the
    # page shows as Telegram does: a modal that stays until OK (a toast would be missed).
    rows = sandbox.locator(".row").count()
    press(history, CLOSE)
    modal = sandbox.locator("#modal")
    expect(modal).to_be_visible()
    expect(sandbox.locator("#modaltext")).to_have_text("Этот чат уже завершён.")
    expect(sandbox.locator("#modalok")).to_be_focused()
    shot(sandbox, "sandbox-06b-refused-alert")
    sandbox.locator("#modalok").click()
    expect(modal).to_be_hidden()
    expect(sandbox.locator(".row")).to_have_count(rows)  # refused: no second confirmation was sent


def test_personas_and_a_stale_accept_button_gone_once_a_colleague_took_the_chat(
    live_server: LiveServer, open_page: Opener
) -> None:
    manager_id, stranger_id, admin_id = (persona_id(live_server, role) for role in ("manager", "stranger", "admin"))
    sandbox = open_sandbox(open_page, manager_id)
    manager_starts_shift(sandbox)

    # A stranger is told there is no access, with the ID to hand to an admin; nothing to press.
    switch_persona(sandbox, stranger_id, "Посторонний")
    expect(sandbox.locator(".empty")).to_be_visible()  # each persona has a chat of its own
    refusal = type_to_bot(sandbox, "/start", "нет доступа")
    expect(refusal.locator(".bubble code")).to_have_text(str(stranger_id))
    expect(refusal.locator(".bubble")).not_to_contain_text("<code>")
    expect(sandbox.locator(".kbtn")).to_have_count(0)
    shot(sandbox, "sandbox-07-stranger")

    # The admin gets the manager's menu plus the admin's.
    switch_persona(sandbox, admin_id, "Администратор")
    menu = type_to_bot(sandbox, "/start", "рабочее место менеджера")
    expect(menu.locator(".kbtn", has_text="⚙️ Админ-меню")).to_be_visible()

    # Back to the manager: their conversation is where they left it.
    switch_persona(sandbox, manager_id, "Менеджер")
    bot_says(sandbox, "Смена начата")
    expect(sandbox.locator(".row", has_text="нет доступа")).to_have_count(0)

    # A visitor asks for a manager; the manager opens the details first...
    visitor = open_page("/")
    open_chat(visitor)
    visitor_asks_for_manager(visitor)
    card = offer_card(sandbox)
    press(card, DETAILS)
    details = bot_says(sandbox, "⏳ ожидает менеджера")
    expect(buttons(details)).to_have_text([ACCEPT])

    # ...meanwhile a colleague takes the chat from the queue in their own Telegram.
    async def colleague_takes() -> None:
        fake = live_server.fake
        await fake.send_message(SECOND_MANAGER, "/start")
        await fake.wait_for_message(SECOND_MANAGER.id, lambda m: "рабочее место" in (m.text or ""))
        await fake.send_message(SECOND_MANAGER, "/chats")
        queue = await fake.wait_for_message(SECOND_MANAGER.id, lambda m: "Ожидают менеджера" in (m.text or ""))
        take = next(text for text in queue.button_texts if text.startswith("✅ Принять #"))
        answer = await fake.wait_callback_answer(await fake.press_button(SECOND_MANAGER, queue.message_id, take))
        assert "ваш" in str(answer.get("text")), answer

    live_server.call(colleague_takes())
    colleague = SECOND_MANAGER.full_name
    expect(visitor.locator(".ilpo-status")).to_contain_text(colleague)
    expect(card).to_contain_text(f"🔒 Чат принял(а) {colleague}.")  # the offer is edited, its buttons gone
    expect(buttons(card)).to_have_count(0)

    # The details message's «✅ Принять чат» goes by itself once the colleague has the chat: nothing stale to press.
    expect(buttons(details)).to_have_count(0)
    expect(details).to_contain_text("⏳ ожидает менеджера")  # the text stays; only the button went
    shot(sandbox, "sandbox-08-stale-accept-gone")
    expect(visitor.locator(".manager-message")).to_have_count(0)


def test_reply_by_quoting_a_client_message(live_server: LiveServer, open_page: Opener) -> None:
    manager = persona_name(live_server, "manager")
    sandbox = open_sandbox(open_page, persona_id(live_server, "manager"))
    manager_starts_shift(sandbox)
    visitor = open_page("/")
    open_chat(visitor)
    visitor_asks_for_manager(visitor, name="Ольга", phone="8 900 000 00 00")
    accept(offer_card(sandbox), sandbox)

    # Leave reply mode, so only the quote can tell the bot which client is meant.
    type_to_bot(sandbox, "/cancel", "Режим ответа выключен")
    ask(visitor, "Можно ли работать на своей машине?")
    relayed = bot_says(sandbox, "Можно ли работать на своей машине?")

    # Quoting starts a reply bar; ✕ cancels it.
    relayed.locator('[data-action="reply"]').click()
    bar = sandbox.locator("#replybar")
    expect(bar).to_be_visible()
    expect(bar).to_contain_text("Ответ на: 💬 Ольга")
    expect(sandbox.locator("#input")).to_be_focused()
    sandbox.locator("#cancelreply").click()
    expect(bar).to_be_hidden()

    relayed.locator('[data-action="reply"]').click()
    expect(bar).to_be_visible()
    shot(sandbox, "sandbox-09-quoting")
    sent = type_to_bot(sandbox, "Да, на своей машине можно.", "Отправлено клиенту")
    expect(bar).to_be_hidden()
    mine = sandbox.locator(".row.mine", has_text="Да, на своей машине можно.")
    expect(mine.locator(".quote")).to_contain_text("Можно ли работать на своей машине?")
    expect(sent.locator(".quote")).to_contain_text("Вы: Да, на своей машине можно.")  # the bot replied to it

    answer = visitor.locator(".manager-message[data-id]")
    expect(answer).to_have_count(1)
    expect(answer).to_contain_text("Да, на своей машине можно.")
    expect(answer.locator(".ilpo-author")).to_have_text(manager)
    shot_both(visitor, sandbox, "sandbox-10-quoted-reply")

    # Quoting a message that is not about a client reaches nobody, and the bot says so.
    bot_says(sandbox, "рабочее место менеджера").locator('[data-action="reply"]').click()
    type_to_bot(sandbox, "Это уйдёт в никуда", "Не понял, какому клиенту ответить")
    expect(answer).to_have_count(1)


def test_a_late_answer_does_not_roll_the_page_back(live_server: LiveServer, open_page: Opener) -> None:
    """The page refreshes from several places at once (its long poll, after sending, after a press); a response
    that arrives late must not replace a newer view with an older one.

    Made deterministic with the network: the page's long poll is parked, the refresh that follows a send is held
    with the chat as it was then, the same manager writes from "another device" meanwhile, the long poll then
    shows that, and only then does the held, older response arrive.
    """
    manager_id = persona_id(live_server, "manager")
    parked: list[Route] = []
    held: list[tuple[Route, APIResponse]] = []
    gate = {"events": False, "hold_next_chat": False}

    def events(route: Route) -> None:
        if gate["events"]:
            route.continue_()
        else:
            parked.append(route)

    def chats(route: Route) -> None:
        if route.request.method == "GET" and gate["hold_next_chat"]:
            gate["hold_next_chat"] = False
            held.append((route, route.fetch()))  # the chat as it is now, delivered later
        else:
            route.continue_()

    def prepare(page: Page) -> None:
        page.route("**/sandbox/api/events*", events)
        page.route(f"**/sandbox/api/chats/{manager_id}", chats)

    sandbox = open_sandbox(open_page, manager_id, prepare)
    expect(sandbox.locator(".empty")).to_contain_text("/start")
    gate["hold_next_chat"] = True
    sandbox.locator("#input").fill("/start")
    sandbox.locator("#input").press("Enter")
    expect(sandbox.locator("#send")).to_be_disabled()  # waiting for its refresh, which is held
    until(sandbox, lambda: len(held) == 1)
    assert len(parked) == 1, "the long poll is parked"

    async def from_another_device() -> None:
        fake = live_server.fake
        await fake.wait_for_message(manager_id, lambda m: "рабочее место" in (m.text or ""))
        await fake.send_message(fake.user(manager_id), "/help")
        await fake.wait_for_message(manager_id, lambda m: (m.text or "").startswith("ℹ️ Как работать"))

    live_server.call(from_another_device())
    gate["events"] = True
    parked.pop().continue_()
    newest = sandbox.locator(".row.mine", has_text="/help")
    expect(newest).to_be_visible()

    route, response = held.pop()
    route.fulfill(response=response)
    expect(sandbox.locator("#send")).to_be_enabled()  # the late response was handled
    expect(newest).to_be_visible()
    expect(sandbox.locator(".row.theirs", has_text="рабочее место менеджера")).to_be_visible()
    shot(sandbox, "sandbox-11-late-answer")


# ---------------------------------------------------------------- one language; a phone


def test_the_page_speaks_the_browsers_language(live_server: LiveServer, browser: Browser) -> None:
    manager_id = persona_id(live_server, "manager")
    for locale, expected in (("en-US", {"heading": "Telegram sandbox", "send": "Send", "status": "live",
                                        "subtitle": "you write as: Manager"}),
                             ("ru-RU", {"heading": "Песочница Telegram", "send": "Отправить", "status": "на связи",
                                        "subtitle": "вы пишете как: Менеджер"})):
        context = browser.new_context(viewport={"width": 1100, "height": 860}, locale=locale)
        try:
            page = context.new_page()
            page.goto(f"{live_server.base_url}/sandbox#{manager_id}")
            expect(page.locator("html")).to_have_attribute("lang", locale[:2])
            expect(page.locator("aside h1")).to_have_text(expected["heading"])
            expect(page.locator("#send")).to_have_text(expected["send"])
            expect(page.locator("#status")).to_have_text(expected["status"])
            expect(page.locator("#subtitle")).to_have_text(expected["subtitle"])
            shot(page, f"sandbox-language-{locale}")
            # Nothing of the other language in the page's own words (the bot's messages and the persona's
            # names are content, not the page).
            chrome = page.locator("aside h1, aside .hint, aside footer, #fold, .persona > span:not(.avatar), header,"
                                  " .empty, #send, .inputhint")
            placeholder = str(page.locator("#input").get_attribute("placeholder"))
            visible = " ".join(chrome.all_inner_texts()) + " " + placeholder
            if locale == "en-US":
                assert not re.search("[А-Яа-яЁё]", visible), visible
            else:
                assert not re.search(r"\b(pick|send|live|persona)\b", visible, re.IGNORECASE), visible
        finally:
            context.close()


def test_on_a_phone_the_personas_fold_away_and_the_log_opens_at_the_newest(
    live_server: LiveServer, browser: Browser
) -> None:
    manager_id = persona_id(live_server, "manager")
    stranger_id = persona_id(live_server, "stranger")
    context = browser.new_context(viewport={"width": 390, "height": 844}, locale="ru-RU", is_mobile=True,
                                  has_touch=True)
    context.set_default_timeout(WAIT)
    try:
        page = context.new_page()
        page.goto(f"{live_server.base_url}/sandbox#{manager_id}")
        expect(page.locator("#status")).to_have_text("на связи")
        for _ in range(12):  # more than a phone screen holds
            type_to_bot(page, "/start", "рабочее место менеджера")
        page.reload()
        expect(page.locator("#status")).to_have_text("на связи")
        personas = page.locator("#personas")
        expect(personas).to_be_hidden()  # folded: the chat gets the screen
        fold = page.locator("#fold")
        expect(fold).to_contain_text("Менеджер")
        log = page.locator("#log")
        page.wait_for_function("() => { const l = document.getElementById('log'); return l.scrollHeight >"
                               " l.clientHeight && l.scrollHeight - l.scrollTop - l.clientHeight < 2; }")
        box = log.bounding_box()
        assert box is not None and box["y"] < 200 and box["y"] + box["height"] <= 844, box
        shot(page, "sandbox-phone-newest")

        fold.click()
        expect(personas).to_be_visible()
        expect(fold).to_have_attribute("aria-expanded", "true")
        shot(page, "sandbox-phone-personas")
        page.locator(f'.persona[data-persona="{stranger_id}"]').click()
        expect(personas).to_be_hidden()  # chosen: folded again
        expect(fold).to_contain_text("Посторонний")
    finally:
        context.close()
