"""History from day one (issue 19): a year of daily NAV through the gateway at pairing, and the
opt-in Flex Web Service for end-of-day positions.

`points` (the daily values, exact decimals), `gateway_history` (Portfolio Analyst's
`/pa/performance`), `flex_client` (SendRequest → GetStatement, IBKR's error codes, rate limits),
`flex_statement` (ibflex parse → daily points, whole or nothing), `flex_setup` (token in the
credential store, query id and base URL), `history_state` (what was fetched and when the next
try is, persisted), `payload` (the body Veracity's daily-history endpoint takes) and `backfill`
(the engine's scheduled duty that ties them together).
"""
