"""The API documentation served offline: Swagger UI at /docs and ReDoc at /redoc from the assets
vendored in ``api/static/vendor`` (no CDN, no inline script: the CSP stays strict), and the
error responses every operation can give, added to the OpenAPI schema in one place."""

from __future__ import annotations

from typing import Any

from fastapi import FastAPI
from fastapi.openapi.utils import get_openapi
from fastapi.responses import HTMLResponse

SWAGGER_HTML = """<!doctype html>
<html lang="ja"><head><meta charset="utf-8"><title>{title} - API</title>
<link rel="stylesheet" href="/static/vendor/swagger-ui/swagger-ui.css"></head>
<body><div id="swagger-ui" data-openapi="{openapi}"></div>
<script src="/static/vendor/swagger-ui/swagger-ui-bundle.js"></script>
<script src="/static/docs.js"></script></body></html>
"""
REDOC_HTML = """<!doctype html>
<html lang="ja"><head><meta charset="utf-8"><title>{title} - API</title></head>
<body><redoc spec-url="{openapi}"></redoc>
<script src="/static/vendor/redoc/redoc.standalone.js"></script></body></html>
"""
# CSP of the two documentation pages: ReDoc styles itself with <style> elements and parses in a
# blob: worker; scripts stay 'self' only.
DOCS_CSP = (
    "default-src 'self'; script-src 'self'; style-src 'self' 'unsafe-inline'; "
    "img-src 'self' data:; font-src 'self' data:; worker-src 'self' blob:; connect-src 'self'; "
    "object-src 'none'; base-uri 'none'; form-action 'self'; frame-ancestors 'none'"
)

ERROR_SCHEMA: dict[str, Any] = {
    "title": "Error",
    "type": "object",
    "properties": {
        "detail": {
            "anyOf": [{"type": "string"}, {"type": "array", "items": {}}],
            "description": "日本語の説明 (入力の誤りは項目ごとの一覧)",
        },
        "issues": {"type": "array", "items": {"type": "object"}},
    },
    "required": ["detail"],
}
ERRORS_JA = {
    "400": "要求の形式が不正です",
    "401": "ログインしていません (セッションがないか、期限切れ・ログアウト済み)",
    "403": "権限がありません (閲覧のみのユーザー、CSRF トークンなし、別サイトからの要求)",
    "404": "見つからないか、担当地域外です",
    "409": "他の変更と重なりました (版が古い、同じ組み合わせの提案がある)",
    "413": "送信されたデータが大きすぎます",
    "422": "入力が不正です (項目・ファイル・行・列を示します)",
    "429": "ログインの失敗が続いたため一時的にロックしています (Retry-After 秒後に再試行)",
    "503": "データベースが一時的に使えません",
}
PUBLIC = {("post", "/api/session")}


def _codes(method: str, path: str) -> list[str]:
    codes = ["400", "422", "503"]
    if (method, path) in PUBLIC:
        return [*codes, "401", "413", "429"]
    codes.append("401")
    codes.append("404")
    if method in ("post", "put", "patch", "delete"):
        codes += ["403", "409", "413"]
    return codes


def install_docs(app: FastAPI) -> None:
    """Mount /docs and /redoc and document the error responses of every operation."""

    @app.get("/docs", include_in_schema=False)
    async def swagger() -> HTMLResponse:
        return HTMLResponse(SWAGGER_HTML.format(title=app.title, openapi=app.openapi_url))

    @app.get("/redoc", include_in_schema=False)
    async def redoc() -> HTMLResponse:
        return HTMLResponse(REDOC_HTML.format(title=app.title, openapi=app.openapi_url))

    def openapi() -> dict[str, Any]:
        if app.openapi_schema:
            return app.openapi_schema
        schema = get_openapi(
            title=app.title,
            version=app.version,
            description=app.description,
            routes=app.routes,
        )
        components = schema.setdefault("components", {})
        components.setdefault("schemas", {})["Error"] = ERROR_SCHEMA
        components["securitySchemes"] = {
            "bearer": {
                "type": "http",
                "scheme": "bearer",
                "description": "POST /api/session の token",
            },
            "cookie": {"type": "apiKey", "in": "cookie", "name": "kyoryoku_session"},
        }
        for name, body in components["schemas"].items():
            # An upload without a file is refused (422): say so in the schema, which FastAPI
            # leaves out for a list of files.
            if name.startswith("Body_") and "file" in body.get("properties", {}):
                body["required"] = sorted({*body.get("required", []), "file"})
                body["properties"]["file"]["minItems"] = 1
                items = body["properties"]["file"].get("items")
                if isinstance(items, dict):
                    items["minLength"] = 1  # an empty file is refused too
        ref = {"$ref": "#/components/schemas/Error"}
        for path, item in schema.get("paths", {}).items():
            for method, op in item.items():
                if (method, path) not in PUBLIC:
                    op["security"] = [{"bearer": []}, {"cookie": []}]
                responses = op.setdefault("responses", {})
                for code in _codes(method, path):
                    entry = {
                        "description": ERRORS_JA[code],
                        "content": {"application/json": {"schema": ref}},
                    }
                    if code == "429":
                        entry["headers"] = {
                            "Retry-After": {"schema": {"type": "integer"}, "description": "秒"}
                        }
                    if code == "401":
                        entry["headers"] = {"WWW-Authenticate": {"schema": {"type": "string"}}}
                    responses[code] = entry
        app.openapi_schema = schema
        return schema

    app.openapi = openapi  # type: ignore[method-assign]
