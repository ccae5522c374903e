"""The HTTP surface other systems call: the Telegram webhook, the chats API (rest.py), and the outgoing
webhooks' delivery."""
