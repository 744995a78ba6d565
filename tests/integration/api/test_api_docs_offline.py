"""`/api/docs` works on a machine without internet: every asset comes from this service."""

from __future__ import annotations

import re
from urllib.parse import urlsplit

from tests.support import Running

ASSET_TYPES = {".js": "javascript", ".css": "text/css", ".png": "image/png"}


async def test_the_docs_page_loads_only_from_this_service(running: Running) -> None:
    async with running.client() as client:  # no key: the reference is public
        page = await client.get("/api/docs")
        assert page.status_code == 200
        assert page.headers["content-type"].startswith("text/html")
        html = page.text
        # Nothing on another host: no CDN, no online validator, no protocol-relative URL.
        assert not re.search(r"(https?:)?//[a-z0-9]", html, re.IGNORECASE), html
        assets = re.findall(r'(?:src|href)="([^"]+)"', html)
        assert {a.rsplit(".", 1)[-1] for a in assets} == {"js", "css", "png"}, assets
        for asset in assets:
            assert urlsplit(asset).netloc == "" and asset.startswith("/api/docs/"), asset
            response = await client.get(asset)
            assert response.status_code == 200, asset
            expected = ASSET_TYPES["." + asset.rsplit(".", 1)[-1]]
            assert expected in response.headers["content-type"], (asset, response.headers)
            assert len(response.content) > 500, asset
        bundle = (await client.get(next(a for a in assets if a.endswith(".js")))).text
        assert "SwaggerUIBundle" in bundle  # the page's script calls it
        # The page loads the document from this service too.
        assert "'/api/openapi.json'" in html
        assert (await client.get("/api/openapi.json")).status_code == 200
        missing = await client.get("/api/docs/static/nothing.js")
        assert missing.status_code == 404
        assert missing.json() == {"status": False, "message": "Not found."}
