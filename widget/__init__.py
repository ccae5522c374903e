"""The visitor's side: the widget's HTTP API, WebSocket and long-poll endpoints, its static files and demo page."""
