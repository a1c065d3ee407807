"""A connector's history: retention (thinning snapshots as they age) and deleting its data."""
