"""Names people choose for themselves reach Telegram HTML escaped: "Tom & <Jerry>" gets a menu, not an error."""

from __future__ import annotations

from sandbox.bot_api import FakeUser
from sandbox.tg_html import parse_html
from tests.clients import Visitor, go_online, offer_to, press
from tests.conftest import MANAGER_ID, SECOND_MANAGER_ID, Desk

TOM = FakeUser(id=MANAGER_ID, first_name="Tom & <Jerry>", username="tom_ilpo")
ANN = FakeUser(id=SECOND_MANAGER_ID, first_name="Ann <b>", last_name="& Co", username="ann_ilpo")


async def test_names_with_html_characters_are_escaped_in_every_bot_text(desk: Desk) -> None:
    await go_online(desk, TOM)
    menu = desk.fake.messages(TOM.id)[0]
    assert menu.text.startswith("👋 Tom & <Jerry>, это рабочее место менеджера")
    visitor = await Visitor(desk.http, desk.base_url).start()
    await visitor.transfer(name="Пётр & <Сын>")
    offer = await offer_to(desk, TOM)
    await press(desk, TOM, offer.message_id, "✅ Принять чат")
    await go_online(desk, ANN)
    await press(desk, TOM, offer.message_id, "↪️ Передать")
    choice = await desk.fake.wait_for_message(TOM.id, lambda m: "Кому передать" in (m.text or ""))
    (button,) = choice.button_texts
    await press(desk, TOM, choice.message_id, button)
    await desk.fake.wait_for_message(TOM.id, lambda m: "заметку" in (m.text or ""))
    await desk.fake.send_message(TOM, "Note <i>unclosed & raw")
    done = await desk.fake.wait_for_message(TOM.id, lambda m: "передан" in (m.text or ""))
    assert "Ann <b> & Co" in done.text
    handed = await desk.fake.wait_for_message(ANN.id, lambda m: "передал" in (m.text or ""))
    assert "Tom & <Jerry>" in handed.text and "Note <i>unclosed & raw" in handed.text
    told = await visitor.wait_for(lambda e: "Ann <b> & Co" in e["text"])
    assert told["chat"]["manager"] == "Ann <b> & Co"

    # Every text the bot sent passes a parser as strict as Telegram's; none is the "something went wrong" reply.
    sent = [call for call in desk.fake.calls if call.method in ("sendMessage", "editMessageText")]
    assert sent and all(call.ok for call in sent), [call.error for call in sent if not call.ok]
    for call in sent:
        if call.params.get("parse_mode", "HTML").upper() == "HTML":
            parse_html(str(call.params["text"]))
    for user in (TOM, ANN):
        assert not any("пошло не так" in (m.text or "") for m in desk.fake.messages(user.id))
