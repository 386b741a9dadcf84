"""Ray jobs (ingest, batch detection) and the HTTP query service."""
