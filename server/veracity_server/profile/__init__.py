"""The user's profile: the IBKR portfolio JSON API (and, from the pages part, the HTML page)."""
