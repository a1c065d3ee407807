"""Downloads of the Windows connector: metadata, installer and Velopack update feed.

Modules: `metadata` (one validated model from the meta JSON or IBKR_CONNECTOR_WINDOWS_*),
`sources` (the meta JSON, re-read on change), `storage` (S3 and local files), `resolver` (the
release served now, checked against storage), `feed` (Velopack), `setup` (start-up wiring),
`views` (the blueprint), `schemas` (OpenAPI). docs/release.md lists the variables.
"""
