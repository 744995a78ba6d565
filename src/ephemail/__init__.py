"""ephemail: self-hostable temporary email with a Temp Mail compatible User API."""

__version__ = "0.1.0"
