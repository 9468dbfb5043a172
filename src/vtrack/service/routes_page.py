"""The web page and the API docs, from package files only (the machines have no internet).

* ``/``: the page (``vtrack.service.static/index.html``); ``/?token=TOKEN`` once keeps the token in a
  ``SameSite=Strict`` HttpOnly cookie and drops it from the address bar.
* ``/static/{name}``: the page's script and style (:data:`STATIC_FILES`).
* ``/docs``: Swagger UI, its files served at ``/docs-assets/{name}`` from the ``fastapi-offline``
  package (:data:`DOCS_ASSETS`) instead of a CDN.
"""

from __future__ import annotations

import hmac
from importlib import resources

from fastapi import APIRouter, HTTPException, Request, Response
from fastapi.openapi.docs import get_swagger_ui_html
from fastapi.responses import HTMLResponse, RedirectResponse

from vtrack.service.deps import Config
from vtrack.service.guard import TOKEN_COOKIE

router = APIRouter(include_in_schema=False)

STATIC_FILES: dict[str, str] = {
    "app.js": "application/javascript; charset=utf-8",
    "style.css": "text/css; charset=utf-8",
}
"""The only files served besides ``index.html`` (package data of ``vtrack.service.static``)."""
DOCS_ASSETS: dict[str, str] = {
    "swagger-ui-bundle.js": "application/javascript; charset=utf-8",
    "swagger-ui.css": "text/css; charset=utf-8",
    "favicon.png": "image/png",
}
"""The Swagger UI files of ``/docs``, served from the ``fastapi-offline`` package (its ``static/``)."""
DOCS_ASSETS_PACKAGE = "fastapi_offline"


@router.get("/")
def index(request: Request, config: Config) -> Response:
    """The page; with ``?token=`` the server's token, a redirect that sets the token cookie."""
    given = request.query_params.get("token")
    token = config.server.token
    if given is not None and token is not None and hmac.compare_digest(given.encode(), token.encode()):
        # first visit with ?token=: keep it in a cookie, drop it from the address bar
        resp = RedirectResponse("/", status_code=303)
        resp.set_cookie(TOKEN_COOKIE, given, httponly=True, samesite="strict")
        return resp
    return HTMLResponse(_static("index.html"), headers={"Cache-Control": "no-store"})


@router.get("/docs")
def docs(request: Request) -> HTMLResponse:
    """Swagger UI of the app's OpenAPI schema, with local files."""
    app = request.app
    assert app.openapi_url is not None
    return get_swagger_ui_html(
        openapi_url=app.openapi_url,
        title=f"{app.title} - API docs",
        swagger_js_url="/docs-assets/swagger-ui-bundle.js",
        swagger_css_url="/docs-assets/swagger-ui.css",
        swagger_favicon_url="/docs-assets/favicon.png",
        swagger_ui_parameters={"validatorUrl": None},  # no badge fetched from validator.swagger.io
    )


@router.get("/docs-assets/{name}")
def docs_asset(name: str) -> Response:
    """One of the Swagger UI files."""
    media = DOCS_ASSETS.get(name)
    if media is None:
        raise HTTPException(404, "not found")
    data = resources.files(DOCS_ASSETS_PACKAGE).joinpath("static").joinpath(name).read_bytes()
    return Response(data, media_type=media, headers={"Cache-Control": "max-age=3600"})


@router.get("/static/{name}")
def static(name: str) -> Response:
    """The page's script or style."""
    media = STATIC_FILES.get(name)
    if media is None:
        raise HTTPException(404, "not found")
    return Response(_static(name), media_type=media, headers={"Cache-Control": "no-store"})


def _static(name: str) -> bytes:
    return resources.files("vtrack.service").joinpath("static").joinpath(name).read_bytes()
