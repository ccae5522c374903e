from aiogram.fsm.state import State, StatesGroup


class ReplyMode(StatesGroup):
    """The manager's next messages go to one client until /cancel or another chat is chosen."""

    active = State()
