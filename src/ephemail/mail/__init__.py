"""Mail ingest: SMTP reception, recipient resolution and MIME parsing."""
