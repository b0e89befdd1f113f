"""`/api/docs`: Swagger UI over /api/openapi.json, with "Try it out" (paste a bearer token under
Authorize). The UI's files come from the `swagger-ui-py` package (Swagger UI 5, which reads
OpenAPI 3.1) and are served by this app: no CDN, so the page works on a machine without internet.
Only the files the page loads are served, by name."""

from __future__ import annotations

from importlib.resources import files
from pathlib import Path

from aiohttp import web

STATIC = Path(str(files("swagger_ui") / "static"))
#: The files the page loads, and their content types.
ASSETS = {
    "swagger-ui-bundle.js": "application/javascript",
    "swagger-ui.css": "text/css",
    "favicon-32x32.png": "image/png",
}

PAGE = """<!doctype html>
<html lang="en"><head><meta charset="utf-8"><title>Drexfy API</title>
<link rel="stylesheet" href="/api/docs/static/swagger-ui.css">
<link rel="icon" type="image/png" href="/api/docs/static/favicon-32x32.png"></head>
<body><div id="ui"></div>
<script src="/api/docs/static/swagger-ui-bundle.js"></script>
<script>
window.ui = SwaggerUIBundle({url: "/api/openapi.json", dom_id: "#ui", tryItOutEnabled: true,
  persistAuthorization: false, displayRequestDuration: true, deepLinking: true});
</script></body></html>
"""


async def docs_page(request: web.Request) -> web.Response:
    """The interactive API page."""
    return web.Response(text=PAGE, content_type="text/html")


async def docs_asset(request: web.Request) -> web.StreamResponse:
    """One of the page's files, by name (nothing else from the package directory)."""
    name = request.match_info["name"]
    content_type = ASSETS.get(name)
    if content_type is None:
        raise web.HTTPNotFound()
    return web.FileResponse(
        STATIC / name, headers={"Content-Type": content_type, "Cache-Control": "public, max-age=86400"}
    )
