"""The demo landing page and the widget's files."""

from __future__ import annotations

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


def _static_file(name: str):  # type: ignore[no-untyped-def]
    async def serve(request: web.Request) -> web.StreamResponse:
        path = STATIC_DIR / name
        if not path.exists():
            raise web.HTTPNotFound(text=f"{name} is missing from widget/static")
        # Sites embed the widget across origins and deploys replace it: cache briefly, revalidate.
        return web.FileResponse(path, headers={"Cache-Control": "public, max-age=300",
                                               "Access-Control-Allow-Origin": "*"})

    return serve


def setup_pages(app: web.Application) -> None:
    aiohttp_jinja2.setup(app, loader=jinja2.FileSystemLoader(TEMPLATES_DIR), autoescape=True)
    app.router.add_get("/", demo_page)
    app.router.add_get("/widget.js", _static_file("widget.js"))
    app.router.add_get("/widget.css", _static_file("widget.css"))
    if STATIC_DIR.exists():
        app.router.add_static("/static/", STATIC_DIR)
