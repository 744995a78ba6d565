"""Pure domain rules: no I/O, no framework, so they can be tested in isolation."""
