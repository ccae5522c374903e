"""What the visitor reads in system messages, Russian first, English second."""

from __future__ import annotations

_TEXTS: dict[str, dict[str, str]] = {
    "waiting": {
        "ru": "⏳ Передаём ваш чат менеджеру. Он ответит здесь же, как только примет чат.",
        "en": "⏳ Handing your chat to a manager. They will answer right here once they accept it.",
    },
    "queued": {
        "ru": "🕐 Сейчас нет менеджеров онлайн. Ваш чат в очереди: первый освободившийся менеджер "
        "ответит здесь. Можно оставить вопрос — мы его не потеряем.",
        "en": "🕐 No manager is online right now. Your chat is in the queue: the first manager "
        "available will answer here. Feel free to leave your question — it won't be lost.",
    },
    "assigned": {
        "ru": "👤 Менеджер {manager} подключился к чату.",
        "en": "👤 Manager {manager} has joined the chat.",
    },
    "closed_by_manager": {
        "ru": "🔚 Менеджер {manager} завершил чат. Спасибо за обращение! Если появятся вопросы, "
        "ИИ-консультант на связи, а менеджера можно позвать снова.",
        "en": "🔚 Manager {manager} has closed the chat. Thank you! The AI consultant is here "
        "if you have more questions, and you can call a manager again.",
    },
    "offer_manager": {
        "ru": "Похоже, вам лучше поговорить с живым менеджером. Нажмите «👤 Связаться с живым менеджером».",
        "en": "It looks like a live manager can help better. Press “👤 Contact a live manager”.",
    },
    "ai_unavailable": {
        "ru": "ИИ-консультант сейчас недоступен. Нажмите «👤 Связаться с живым менеджером» — вам ответит человек.",
        "en": "The AI consultant is unavailable right now. Press “👤 Contact a live manager” to talk to a person.",
    },
    "after_hours": {
        "ru": "🌙 Сейчас нерабочее время — менеджеры вернутся {back}. Мы сохранили вашу заявку: "
        "менеджер свяжется с вами. Если ещё не оставили имя и телефон — напишите их здесь.",
        "en": "🌙 We are closed right now — managers are back {back}. Your request is saved and "
        "a manager will get back to you. Leave your name and phone here if you haven't yet.",
    },
    "closed_by_support": {
        "ru": "🔚 Чат завершён службой поддержки. ИИ-консультант на связи, а менеджера можно позвать снова.",
        "en": "🔚 Support has closed this chat. The AI consultant is here, and you can call a manager again.",
    },
    "colleague_joined": {
        "ru": "👥 К чату подключился менеджер {manager}: теперь вам помогают двое.",
        "en": "👥 Manager {manager} has joined the chat to help as well.",
    },
    "manager_left": {
        "ru": "👤 Менеджер {manager} больше не может продолжить этот чат — передаём ваш вопрос другому менеджеру.",
        "en": "👤 Manager {manager} can no longer continue this chat — handing your question to another manager.",
    },
    "queue_position": {
        "ru": "🕐 Вы в очереди: {position}-й. Примерное ожидание — около {eta} мин.",
        "en": "🕐 You are number {position} in the queue. Estimated wait: about {eta} min.",
    },
    "transferred": {
        "ru": "🔄 Вас переключили на менеджера {manager}. Он уже видит всю переписку.",
        "en": "🔄 You have been transferred to manager {manager}, who can see the whole conversation.",
    },
    "idle_warning": {
        "ru": "⌛ Чат скоро закроется из-за отсутствия активности (через {minutes} мин). "
        "Напишите, если вопрос ещё актуален.",
        "en": "⌛ This chat will close soon for inactivity (in {minutes} min). Write if you still need help.",
    },
    "idle_closed": {
        "ru": "🔚 Чат закрыт из-за отсутствия активности. ИИ-консультант на связи, а менеджера можно позвать снова.",
        "en": "🔚 The chat was closed for inactivity. The AI consultant is here, and you can call a manager again.",
    },
}


def visitor_text(key: str, locale: str, **values: str) -> str:
    variants = _TEXTS[key]
    template = variants.get(locale, variants["ru"])
    return template.format(**values)
