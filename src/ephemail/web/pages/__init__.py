"""The site's pages, one router per area."""
