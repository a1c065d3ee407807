"""Daily history (issue 19): past end-of-day NAV (and Flex positions) sent by the connector.

`store` keeps a batch whole or not at all, once per (user, account, report date, source);
`reconcile` compares a day's history with its live end-of-day snapshot; `series` gives the
chart the history points of days without live data; `views` is the connector's endpoint.
docs/history.md describes it; the request and answer models are
veracity_contract.daily_history.
"""
