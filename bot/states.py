from aiogram.fsm.state import State, StatesGroup


class ReplyMode(StatesGroup):
    """The manager's next messages go to one client until /cancel or another chat is chosen."""

    active = State()


class AddManager(StatesGroup):
    """An admin is adding a manager: the next message is their Telegram ID or a message of theirs forwarded."""

    waiting = State()


class TransferNote(StatesGroup):
    """A manager chose a colleague to hand a chat to; the next message is the note for them."""

    waiting = State()


class GreetingForm(StatesGroup):
    """An admin sets up a proactive greeting: the page pattern, the seconds on the page, the text, then the
    yes/no options on buttons."""

    pattern = State()
    delay = State()
    text = State()
    options = State()


class TemplateEdit(StatesGroup):
    """An admin writing a saved reply: a new one's title, then its text; or a new title or text for one."""

    title = State()
    text = State()
    new_title = State()
    new_text = State()
