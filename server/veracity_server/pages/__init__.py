"""HTML pages: the login page and Profile → IBKR Integration (`GET /profile/ibkr`).

Server-rendered Jinja with a little progressive JavaScript (veracity_server/static/*.js, no inline
script: the Content-Security-Policy forbids it). The page reads the same data as the JSON API;
the connectors and portfolio regions are re-rendered on the server as HTML fragments that
`profile.js` polls, so every word and number has one rendering path. Unsafe actions (generate a
token, revoke, log out) are made by the script against the JSON API with the session's CSRF token,
which the page carries in a `<meta name="csrf-token">` tag — never in a URL.

Configuration: `VERACITY_PAGE_POLL_INTERVAL_S` (default 10) — how often the page refreshes the
connectors and portfolio regions; read once when the app is built, a bad value stops start-up.
"""

from veracity_server.pages.views import blueprint

__all__ = ["blueprint"]
