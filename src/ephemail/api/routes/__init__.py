"""One module per resource of the contract, plus the token (no API key) routes."""
