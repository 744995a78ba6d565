"""The website: server-rendered pages (Jinja2, htmx) on the same store and rules as the API."""
