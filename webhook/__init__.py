"""The HTTP server: one aiohttp application carrying the widget API, the Telegram webhook and health."""
