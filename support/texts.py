"""What the visitor reads in system messages and refusals. The texts live in the catalogs (locales/): the
Russian msgid here names each one, core.i18n gives it in the visitor's language."""

from __future__ import annotations

from core.i18n import N_, translate

_TEXTS: dict[str, str] = {
    "waiting": N_("⏳ Передаём ваш чат менеджеру — ответ придёт здесь же, как только чат примут."),
    "queued": N_("🕐 Сейчас нет менеджеров онлайн. Ваш чат получит первый, кто выйдет на связь, — "
            "он ответит здесь же. Можно оставить вопрос, имя и телефон — мы их не потеряем."),
    "queued_busy": N_("🕐 Все менеджеры сейчас заняты. Ваш чат в очереди: ответ придёт здесь же."),
    "assigned": N_("👤 {manager}, менеджер, теперь в чате."),
    "closed_by_manager": N_("🔚 {manager}, менеджер, завершает чат. Спасибо за обращение! Если появятся "
            "вопросы, ИИ-консультант на связи, а менеджера можно позвать снова."),
    "offer_manager": N_("Похоже, вам лучше поговорить с живым менеджером. Нажмите «👤 Связаться с живым менеджером»."),
    "ai_unavailable": N_("ИИ-консультант сейчас недоступен. Нажмите «👤 Связаться с живым менеджером» — "
            "вам ответит человек."),
    "after_hours": N_("🌙 Сейчас нерабочее время — менеджеры вернутся {back}. Мы сохранили вашу заявку: "
            "менеджер свяжется с вами. Если ещё не оставили имя и телефон — напишите их здесь."),
    "closed_by_support": N_("🔚 Чат завершён службой поддержки. ИИ-консультант на связи, а менеджера можно "
            "позвать снова."),
    "colleague_joined": N_("👥 {manager}, менеджер, теперь тоже в чате: вам помогают двое."),
    "manager_left": N_("👤 {manager}, менеджер, не может продолжить этот чат — передаём ваш вопрос другому менеджеру."),
    "queue_eta": N_("🕐 {place} Примерное ожидание — около {eta} мин."),
    "queue_place": N_("🕐 {place}"),
    "transferred": N_("🔄 Теперь с вами {manager}, менеджер. Вся переписка сохранена — повторять ничего не нужно."),
    "idle_warning": N_("⌛ Чат скоро закроется из-за отсутствия активности (через {minutes} мин). "
            "Напишите, если вопрос ещё актуален."),
    "idle_closed": N_("🔚 Чат закрыт из-за отсутствия активности. ИИ-консультант на связи, а менеджера "
            "можно позвать снова."),
}
# "queue_eta" is shown only while someone is online: an estimate with nobody there to answer would be a promise
# we cannot keep.

# "Вы первый в очереди." — a word, not "1-й", while the number is small enough to say.
_ORDINALS = (N_("Вы первый в очереди."), N_("Вы второй в очереди."), N_("Вы третий в очереди."),
             N_("Вы четвёртый в очереди."), N_("Вы пятый в очереди."), N_("Вы шестой в очереди."),
             N_("Вы седьмой в очереди."), N_("Вы восьмой в очереди."), N_("Вы девятый в очереди."),
             N_("Вы десятый в очереди."))


def visitor_text(key: str, locale: str, **values: str) -> str:
    return translate(locale, _TEXTS[key], **values)


def queue_place(position: int, locale: str) -> str:
    if position <= len(_ORDINALS):
        return translate(locale, _ORDINALS[position - 1])
    return translate(locale, N_("Ваше место в очереди: {position}."), position=position)


def queue_text(position: int, eta_minutes: int | None, locale: str) -> str:
    place = queue_place(position, locale)
    if eta_minutes is None:
        return visitor_text("queue_place", locale, place=place)
    return visitor_text("queue_eta", locale, place=place, eta=str(eta_minutes))


# What the widget shows when the server refuses something, by the error's code (the API's own message is English
# and meant for developers). "invalid_field:<field>" is tried before "invalid_field".
_ERRORS: dict[str, str] = {
    "invalid_json": N_("Запрос не удалось прочитать. Обновите страницу и попробуйте ещё раз."),
    "invalid_body": N_("Файл не удалось прочитать. Попробуйте отправить его ещё раз."),
    "invalid_field": N_("Проверьте введённые данные."),
    "invalid_field:text": N_("Сообщение пустое."),
    "invalid_field:name": N_("Имя: от 2 до 100 символов."),
    "invalid_field:phone": N_("Телефон: 7–15 цифр, можно +, пробелы, скобки и дефисы."),
    "invalid_field:comment": N_("Комментарий: не длиннее 1000 символов."),
    "invalid_field:rating": N_("Оценка: от 1 до 5."),
    "invalid_field:file": N_("Выберите файл."),
    "missing_token": N_("Сессия чата устарела. Обновите страницу."),
    "invalid_token": N_("Сессия чата устарела. Обновите страницу."),
    "session_not_found": N_("Сессия чата устарела. Обновите страницу."),
    "message_too_long": N_("Сообщение слишком длинное (до {limit} символов)."),
    "too_many_messages": N_("Слишком часто. Попробуйте через {retry_after} с."),
    "too_many_sessions": N_("Слишком много новых чатов. Попробуйте через {retry_after} с."),
    "file_too_large": N_("Файл слишком большой: не больше {mb} МБ."),
    "empty_file": N_("Файл пустой."),
    "unsupported_file": N_("Можно отправить только фото (JPEG, PNG, WebP, HEIC) или PDF."),
    "uploads_disabled": N_("Файлы здесь не принимаются."),
    "file_not_found": N_("Такого файла в этом чате нет."),
    "chat_not_found": N_("Такого чата нет."),
    "already_rated": N_("Этот чат уже оценён."),
    "unknown_type": N_("Виджет устарел. Обновите страницу."),
    "session_expired": N_("Сессия чата устарела. Обновите страницу."),
    "missing_ticket": N_("Соединение не открылось. Обновите страницу."),
    "invalid_ticket": N_("Соединение не открылось. Обновите страницу."),
    "token_in_url": N_("Соединение не открылось. Обновите страницу."),
    "link_expired": N_("Ссылка на файл устарела. Обновите страницу."),
    "too_many_connections": N_("Чат открыт в слишком многих вкладках. Закройте лишние."),
    "database_unavailable": N_("Сервис ненадолго недоступен. Попробуйте через {retry_after} с."),
    "body_too_large": N_("Запрос слишком большой."),
    "not_found": N_("Не найдено."),
    "method_not_allowed": N_("Так нельзя."),
    "http_error": N_("Не получилось. Попробуйте ещё раз."),
    "internal_error": N_("Что-то пошло не так с нашей стороны. Попробуйте ещё раз."),
}
_UNKNOWN_ERROR = N_("Не получилось. Попробуйте ещё раз.")


def error_text(code: str, locale: str, field: str | None = None, **values: object) -> str:
    """The visitor's words for a refusal; a code without its own text still gets a text in the visitor's language."""
    template = _ERRORS.get(f"{code}:{field}") or _ERRORS.get(code) or _UNKNOWN_ERROR
    try:
        return translate(locale, template, **values)
    except KeyError:  # a figure the caller could not give: still the visitor's language
        return translate(locale, _UNKNOWN_ERROR)


def known_error_codes() -> set[str]:
    return {key.split(":")[0] for key in _ERRORS}
