"""A fake OAuth2 token endpoint (``POST /token``, refresh-token grant), for credential
tests: it issues ``<prefix>1``, ``<prefix>2``, … and records every grant."""

from __future__ import annotations

from aiohttp import web

from junction.testing.fakeserver import FakeProviderServer


class FakeTokenEndpoint(FakeProviderServer):
    def __init__(self, refresh_token: str, client_secret: str, prefix: str = "token-") -> None:
        super().__init__()
        self.refresh_token = refresh_token
        self.client_secret = client_secret
        self.prefix = prefix
        self.grants: list[dict[str, str]] = []

    @property
    def token_url(self) -> str:
        return f"{self.url}/token"

    def routes(self, app: web.Application) -> None:
        app.router.add_post("/token", self.token)

    async def token(self, request: web.Request) -> web.Response:
        form = {k: str(v) for k, v in (await request.post()).items()}
        self.grants.append(form)
        if form.get("refresh_token") != self.refresh_token or (
            form.get("client_secret") != self.client_secret
        ):
            return web.json_response({"error": "invalid_grant"}, status=400)
        return web.json_response(
            {
                "access_token": f"{self.prefix}{len(self.grants)}",
                "expires_in": 3600,
                "token_type": "Bearer",
            }
        )
