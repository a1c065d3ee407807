"""The HTTP contract between the connector and Veracity (v1), as the models both sides speak.

`fields` holds the building blocks (strict models, exact decimals, UTC times, text limits),
`pairing` the token exchange and connector management, `connector` heartbeats and snapshots.
The server validates requests with these models and generates its OpenAPI document from them;
the connector builds its requests and reads the answers with them. docs/contract.md describes it.
"""
