"""The demo landing page and the widget's files."""

from __future__ import annotations

import re
from pathlib import Path

import aiohttp_jinja2
import jinja2
from aiohttp import web

from core.config import SETTINGS

STATIC_DIR = Path(__file__).parent / "static"
TEMPLATES_DIR = Path(__file__).parent / "templates"


@aiohttp_jinja2.template("index.html")
async def demo_page(request: web.Request) -> dict[str, str]:
    settings = request.app[SETTINGS]
    public_url = settings.http.public_url or f"{request.scheme}://{request.host}"
    return {"public_url": public_url, "locale": request.query.get("lang", "ru")}


_WHOLE_LINE_COMMENT = re.compile(r"^[ \t]*//.*$", re.MULTILINE)


def served_text(name: str, source: str) -> str:
    """What a fleet's page downloads: the file without its whole-line // comments, which are for us.

    The lines stay (empty), so a browser's line numbers still match the file. Only whole lines go: a `//` after
    code may sit inside a string ('https://…')."""
    return _WHOLE_LINE_COMMENT.sub("", source) if name.endswith(".js") else source


def _static_file(name: str):  # type: ignore[no-untyped-def]
    cache: dict[str, tuple[int, bytes]] = {}

    async def serve(request: web.Request) -> web.StreamResponse:
        path = STATIC_DIR / name
        if not path.exists():
            raise web.HTTPNotFound(text=f"{name} is missing from widget/static")
        mtime = path.stat().st_mtime_ns
        if cache.get(name, (None,))[0] != mtime:
            cache[name] = (mtime, served_text(name, path.read_text(encoding="utf-8")).encode())
        content_type = "text/javascript" if name.endswith(".js") else "text/css"
        # Sites embed the widget across origins and deploys replace it: cache briefly, revalidate.
        return web.Response(body=cache[name][1], content_type=content_type, charset="utf-8",
                            headers={"Cache-Control": "public, max-age=300", "Access-Control-Allow-Origin": "*"})

    return serve


def setup_pages(app: web.Application) -> None:
    aiohttp_jinja2.setup(app, loader=jinja2.FileSystemLoader(TEMPLATES_DIR), autoescape=True)
    app.router.add_get("/", demo_page)
    app.router.add_get("/widget.js", _static_file("widget.js"))
    app.router.add_get("/widget.css", _static_file("widget.css"))
    if STATIC_DIR.exists():
        app.router.add_static("/static/", STATIC_DIR)
