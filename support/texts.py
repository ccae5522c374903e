"""What the visitor reads in system messages, Russian first, English second."""

from __future__ import annotations

_TEXTS: dict[str, dict[str, str]] = {
    "waiting": {
        "ru": "⏳ Передаём ваш чат менеджеру — ответ придёт здесь же, как только чат примут.",
        "en": "⏳ Handing your chat to a manager. They will answer right here once they accept it.",
    },
    "queued": {
        "ru": "🕐 Сейчас нет менеджеров онлайн. Ваш чат получит первый, кто выйдет на связь, — он ответит "
        "здесь же. Можно оставить вопрос, имя и телефон — мы их не потеряем.",
        "en": "🕐 No manager is online right now. The first one to come online gets your chat and will answer "
        "right here. Feel free to leave your question, name and phone — they won't be lost.",
    },
    "queued_busy": {
        "ru": "🕐 Все менеджеры сейчас заняты. Ваш чат в очереди: ответ придёт здесь же.",
        "en": "🕐 All managers are busy right now. Your chat is in the queue: the answer will come right here.",
    },
    "assigned": {
        "ru": "👤 {manager}, менеджер, теперь в чате.",
        "en": "👤 Manager {manager} has joined the chat.",
    },
    "closed_by_manager": {
        "ru": "🔚 {manager}, менеджер, завершает чат. Спасибо за обращение! Если появятся вопросы, "
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
        "ru": "👥 {manager}, менеджер, теперь тоже в чате: вам помогают двое.",
        "en": "👥 Manager {manager} has joined the chat to help as well.",
    },
    "manager_left": {
        "ru": "👤 {manager}, менеджер, не может продолжить этот чат — передаём ваш вопрос другому менеджеру.",
        "en": "👤 Manager {manager} can no longer continue this chat — handing your question to another manager.",
    },
    # Only while someone is online: an estimate with nobody there to answer would be a promise we cannot keep.
    "queue_eta": {
        "ru": "🕐 {place} Примерное ожидание — около {eta} мин.",
        "en": "🕐 {place} Estimated wait: about {eta} min.",
    },
    "queue_place": {
        "ru": "🕐 {place}",
        "en": "🕐 {place}",
    },
    "transferred": {
        "ru": "🔄 Теперь с вами {manager}, менеджер. Вся переписка сохранена — повторять ничего не нужно.",
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


_ORDINALS_RU = ("первый", "второй", "третий", "четвёртый", "пятый", "шестой", "седьмой", "восьмой", "девятый",
                "десятый")
_ORDINALS_EN = ("first", "second", "third")


def visitor_text(key: str, locale: str, **values: str) -> str:
    variants = _TEXTS[key]
    template = variants.get(locale, variants["ru"])
    return template.format(**values)


def queue_place(position: int, locale: str) -> str:
    """"Вы первый в очереди." — a word, not "1-й", while the number is small enough to say."""
    if locale == "en":
        if position <= len(_ORDINALS_EN):
            return f"You are {_ORDINALS_EN[position - 1]} in the queue."
        return f"You are number {position} in the queue."
    if position <= len(_ORDINALS_RU):
        return f"Вы {_ORDINALS_RU[position - 1]} в очереди."
    return f"Ваше место в очереди: {position}."


def queue_text(position: int, eta_minutes: int | None, locale: str) -> str:
    place = queue_place(position, locale)
    if eta_minutes is None:
        return visitor_text("queue_place", locale, place=place)
    return visitor_text("queue_eta", locale, place=place, eta=str(eta_minutes))


# What the widget shows when the server refuses something, by the error's code (the API's own message is English
# and meant for developers). "invalid_field:<field>" is tried before "invalid_field".
_ERRORS: dict[str, dict[str, str]] = {
    "invalid_json": {"ru": "Запрос не удалось прочитать. Обновите страницу и попробуйте ещё раз.",
                     "en": "The request could not be read. Reload the page and try again."},
    "invalid_body": {"ru": "Файл не удалось прочитать. Попробуйте отправить его ещё раз.",
                     "en": "The file could not be read. Please try sending it again."},
    "invalid_field": {"ru": "Проверьте введённые данные.", "en": "Please check what you entered."},
    "invalid_field:text": {"ru": "Сообщение пустое.", "en": "The message is empty."},
    "invalid_field:name": {"ru": "Имя: от 2 до 100 символов.", "en": "Name: 2 to 100 characters."},
    "invalid_field:phone": {"ru": "Телефон: 7–15 цифр, можно +, пробелы, скобки и дефисы.",
                            "en": "Phone: 7–15 digits; +, spaces, brackets and dashes allowed."},
    "invalid_field:comment": {"ru": "Комментарий: не длиннее 1000 символов.",
                              "en": "Comment: 1000 characters at most."},
    "invalid_field:rating": {"ru": "Оценка: от 1 до 5.", "en": "Rating: from 1 to 5."},
    "invalid_field:file": {"ru": "Выберите файл.", "en": "Choose a file."},
    "missing_token": {"ru": "Сессия чата устарела. Обновите страницу.",
                      "en": "The chat session has expired. Please reload the page."},
    "invalid_token": {"ru": "Сессия чата устарела. Обновите страницу.",
                      "en": "The chat session has expired. Please reload the page."},
    "session_not_found": {"ru": "Сессия чата устарела. Обновите страницу.",
                          "en": "The chat session has expired. Please reload the page."},
    "message_too_long": {"ru": "Сообщение слишком длинное (до {limit} символов).",
                         "en": "The message is too long ({limit} characters at most)."},
    "too_many_messages": {"ru": "Слишком часто. Попробуйте через {retry_after} с.",
                          "en": "Too fast. Try again in {retry_after} s."},
    "too_many_sessions": {"ru": "Слишком много новых чатов. Попробуйте через {retry_after} с.",
                          "en": "Too many new chats. Try again in {retry_after} s."},
    "file_too_large": {"ru": "Файл слишком большой: не больше {mb} МБ.",
                       "en": "The file is too large: {mb} MB at most."},
    "empty_file": {"ru": "Файл пустой.", "en": "The file is empty."},
    "unsupported_file": {"ru": "Можно отправить только фото (JPEG, PNG, WebP, HEIC) или PDF.",
                         "en": "Only photos (JPEG, PNG, WebP, HEIC) and PDF files."},
    "uploads_disabled": {"ru": "Файлы здесь не принимаются.", "en": "Files are not accepted here."},
    "file_not_found": {"ru": "Такого файла в этом чате нет.", "en": "No such file in this chat."},
    "chat_not_found": {"ru": "Такого чата нет.", "en": "No such chat."},
    "already_rated": {"ru": "Этот чат уже оценён.", "en": "This chat was already rated."},
    "unknown_type": {"ru": "Виджет устарел. Обновите страницу.",
                     "en": "The widget is outdated. Please reload the page."},
}
_UNKNOWN_ERROR = {"ru": "Не получилось. Попробуйте ещё раз.", "en": "Something went wrong. Please try again."}


def error_text(code: str, locale: str, field: str | None = None, **values: object) -> str:
    """The visitor's words for a refusal; a code without its own text still gets a text in the visitor's language."""
    variants = _ERRORS.get(f"{code}:{field}") or _ERRORS.get(code) or _UNKNOWN_ERROR
    template = variants.get(locale, variants["ru"])
    try:
        return template.format(**values)
    except KeyError:  # a figure the caller could not give: still the visitor's language
        return _UNKNOWN_ERROR.get(locale, _UNKNOWN_ERROR["ru"])


def known_error_codes() -> set[str]:
    return {key.split(":")[0] for key in _ERRORS}
