"""The demo landing page and the widget's files."""

from __future__ import annotations

import re
from pathlib import Path

import aiohttp_jinja2
import jinja2
import rjsmin
from aiohttp import web

from core.config import SETTINGS

STATIC_DIR = Path(__file__).parent / "static"
TEMPLATES_DIR = Path(__file__).parent / "templates"


@aiohttp_jinja2.template("index.html")
async def demo_page(request: web.Request) -> dict[str, str]:
    settings = request.app[SETTINGS]
    public_url = settings.http.public_url or f"{request.scheme}://{request.host}"
    return {"public_url": public_url, "locale": request.query.get("lang", "ru")}


def minify_css(text: str) -> str:
    """Comments and layout whitespace out; the readable stylesheet stays the source in the repository."""
    text = re.sub(r"/\*.*?\*/", "", text, flags=re.S)
    text = re.sub(r"\s+", " ", text)
    text = re.sub(r"\s*([{};,>])\s*", r"\1", text)
    text = re.sub(r":\s+", ":", text)  # after a colon only: "a :hover" (with the space) is another selector
    return text.replace(";}", "}").strip()


def minify_js(text: str) -> str:
    """rjsmin: comments and whitespace out, by a tokenizer that knows strings and regular expressions (so the
    meaning cannot change); the /*! banner stays. A tenth of the widget's gzipped weight, back for features."""
    return str(rjsmin.jsmin(text, keep_bang_comments=True)) + "\n"


MINIFIERS = {".js": minify_js, ".css": minify_css}
CONTENT_TYPES = {".js": "text/javascript", ".css": "text/css"}


def served_bytes(name: str) -> bytes:
    """The widget file as a fleet's visitors download it (bench/widget_size.py weighs exactly this)."""
    path = STATIC_DIR / name
    return MINIFIERS[path.suffix](path.read_text(encoding="utf-8")).encode()


def _static_file(name: str):  # type: ignore[no-untyped-def]
    cache: dict[float, bytes] = {}  # by mtime: an edited file is served fresh without a restart

    async def serve(request: web.Request) -> web.StreamResponse:
        path = STATIC_DIR / name
        if not path.exists():
            raise web.HTTPNotFound(text=f"{name} is missing from widget/static")
        mtime = path.stat().st_mtime
        if mtime not in cache:
            cache.clear()
            cache[mtime] = served_bytes(name)
        # Sites embed the widget across origins and deploys replace it: cache briefly, revalidate.
        response = web.Response(body=cache[mtime], content_type=CONTENT_TYPES[path.suffix], charset="utf-8",
                                headers={"Cache-Control": "public, max-age=300", "Access-Control-Allow-Origin": "*"})
        response.enable_compression()  # gzip when the visitor's browser takes it and no proxy does it first
        return response

    return serve


def setup_pages(app: web.Application) -> None:
    aiohttp_jinja2.setup(app, loader=jinja2.FileSystemLoader(TEMPLATES_DIR), autoescape=True)
    app.router.add_get("/", demo_page)
    app.router.add_get("/widget.js", _static_file("widget.js"))
    app.router.add_get("/widget.css", _static_file("widget.css"))
    if STATIC_DIR.exists():
        app.router.add_static("/static/", STATIC_DIR)
