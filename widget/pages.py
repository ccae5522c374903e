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
SCRIPT_DIR = Path(__file__).parent / "script"
TEMPLATES_DIR = Path(__file__).parent / "templates"
# widget.js is one script for a fleet's site (one tag, one request, one closure) kept as a few files by job: the
# parts of one function, joined as written in this order (setup.js opens it, boot.js closes it).
WIDGET_JS_PARTS = ("setup.js", "render.js", "session.js", "transport.js", "boot.js")


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


def source_files(name: str) -> list[Path]:
    """The files a served widget file is made of, in order."""
    if name == "widget.js":
        return [SCRIPT_DIR / part for part in WIDGET_JS_PARTS]
    return [STATIC_DIR / name]


def source_text(name: str) -> str:
    """The readable source of a served widget file (widget.js: its parts joined)."""
    return "".join(path.read_text(encoding="utf-8") for path in source_files(name))


def served_bytes(name: str) -> bytes:
    """The widget file as a fleet's visitors download it (bench/widget_size.py weighs exactly this)."""
    return MINIFIERS[Path(name).suffix](source_text(name)).encode()


def _static_file(name: str):  # type: ignore[no-untyped-def]
    cache: dict[tuple[float, ...], bytes] = {}  # by mtimes: an edited file is served fresh without a restart
    suffix = Path(name).suffix

    async def serve(request: web.Request) -> web.StreamResponse:
        paths = source_files(name)
        if not all(path.exists() for path in paths):
            raise web.HTTPNotFound(text=f"{name} is missing from widget/")
        mtimes = tuple(path.stat().st_mtime for path in paths)
        if mtimes not in cache:
            cache.clear()
            cache[mtimes] = served_bytes(name)
        # Sites embed the widget across origins and deploys replace it: cache briefly, revalidate.
        response = web.Response(body=cache[mtimes], content_type=CONTENT_TYPES[suffix], charset="utf-8",
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
