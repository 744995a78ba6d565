"""The Temp Mail compatible User API (FastAPI). It reads the store; it never parses MIME."""
