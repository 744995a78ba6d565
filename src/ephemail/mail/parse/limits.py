"""Every bound the parser keeps, in one place, so its worst case can be read off here.

Each step of the parser is a single left-to-right pass (or a constant number of them) over
its input, and each loop over parts, headers or parameters stops at one of these counts, so
the time for any input is linear in its size; docs/reliability.md has the measured figures.
"""

from __future__ import annotations

MAX_DEPTH = 50  # nesting levels below the top-level message; deeper parts are ignored
MAX_PARTS = 1000  # MIME entities read per message, containers included
# Fewer for a small message: at most one entity per this many bytes of input. No real part
# is this small (a delimiter line, a Content-Type, a blank line), and it keeps a small
# message's parse as cheap as its size says (1,000 empty parts fit in 5 KB).
BYTES_PER_PART = 64
MIN_PARTS = 64  # ... but never fewer than this
MAX_NAME = 200  # characters in an attachment name
MAX_NAME_BYTES = 255  # of its UTF-8 form: the file-name limit of common file systems
# Characters of a file-name parameter decoded (MAX_NAME characters take at most ~1,100 as
# RFC 2047 base64 words) and of a From value read (a long encoded name takes ~600).
MAX_NAME_SOURCE = 2048
MAX_ADDRESS_SOURCE = 2048
MAX_HEADER_CHARS = 8192  # of one header value (unfolded); the rest is dropped
MAX_HEADER_LINES = 1000  # header lines read per entity; a flood beyond is skipped
MAX_PARAMS = 128  # parameters read from one Content-Type or Content-Disposition
MAX_COMMENT_PARENS = 256  # parentheses read in one value; after that it is all comment
MAX_BOUNDARY = 200  # characters of a multipart boundary (RFC 2046 allows 70)
MAX_CHARSET = 40  # characters of a charset label
MAX_EXT = 16  # longer "extensions" are treated as part of the name
MAX_FALSE_DELIMITERS = 1000  # lines shaped like a delimiter (`--a--x`) that are none
MAX_DELIMITER_PREFIXES = 20_000  # `--boundary` followed by what no delimiter has (`--a0`)
