"""The support desk's core: the chat lifecycle (AI → waiting → assigned → closed), routing and relaying.

The bot, the widget endpoints and the scheduler all call SupportService; none of them touches the
tables or a chat's status directly.
"""
