"""The seeded demo portfolio: three accounts in USD, EUR and GBP, one with a few hundred positions.

Everything is derived from the seed, so two simulators started with the same seed serve the
same book, and tests can compare what a client read with `/sim/state`.
"""

from __future__ import annotations

import random

from ibkr_gateway_sim.portfolio import Account, Book, Contract, Order, Position

LARGE_ACCOUNT_POSITIONS = 250  # three pages of the paged positions endpoint (100, 100, 50)

_US_STOCKS = (
    "AAPL", "MSFT", "AMZN", "GOOGL", "META", "NVDA", "TSLA", "BRK B", "JPM", "V", "JNJ", "WMT",
    "PG", "MA", "HD", "XOM", "CVX", "KO", "PEP", "ABBV", "MRK", "COST", "AVGO", "ADBE", "CRM",
    "NFLX", "AMD", "INTC", "CSCO", "ORCL", "QCOM", "TXN", "IBM", "DIS", "NKE", "MCD", "SBUX",
    "BA", "CAT", "GE",
)
_EU_STOCKS = ("SAP", "SIE", "ALV", "BAS", "BMW", "MBG", "DTE", "ADS", "AIR", "ASML", "MC", "OR")
_UK_STOCKS = ("SHEL", "HSBA", "AZN", "ULVR", "BP.", "GSK", "RIO", "LLOY", "BARC", "VOD")
_FUTURES = (  # ticker, multiplier, price, currency, exchange
    ("ES", 50.0, 5900.0, "USD", "CME"),
    ("NQ", 20.0, 20800.0, "USD", "CME"),
    ("CL", 1000.0, 71.5, "USD", "NYMEX"),
    ("GC", 100.0, 2650.0, "USD", "COMEX"),
    ("FDAX", 25.0, 19200.0, "EUR", "EUREX"),
)
_MONTHS = ("JAN", "FEB", "MAR", "APR", "MAY", "JUN", "JUL", "AUG", "SEP", "OCT", "NOV", "DEC")


class _ContractMaker:
    """Hands out conids and contracts in a fixed order, so the seed decides everything."""

    def __init__(self, rng: random.Random) -> None:
        self.rng = rng
        self.contracts: dict[int, Contract] = {}
        self.next_conid = 265598

    def add(self, **fields: object) -> Contract:
        contract = Contract(conid=self.next_conid, **fields)  # type: ignore[arg-type]
        self.contracts[contract.conid] = contract
        self.next_conid += 1 + self.rng.randrange(40)
        return contract

    def stock(self, ticker: str, currency: str, exchange: str) -> Contract:
        price = round(self.rng.uniform(8, 600), 2)
        return self.add(ticker=ticker, asset_class="STK", currency=currency, price=price,
                        description=ticker, listing_exchange=exchange)

    def option(self, underlying: Contract, put_or_call: str, months_ahead: int) -> Contract:
        year, month = 2026 + (10 + months_ahead) // 12, (10 + months_ahead) % 12 + 1
        strike = round(underlying.price * self.rng.choice((0.8, 0.9, 1.0, 1.1, 1.2)) / 5) * 5.0
        strike = max(strike, 5.0)
        expiry = f"{year}{month:02d}20"
        local_symbol = f"{underlying.ticker} {expiry[2:]}{put_or_call}{strike:g} 100"
        description = (f"{underlying.ticker} {_MONTHS[month - 1]}{year} {strike:g} "
                       f"{put_or_call} [{local_symbol}]")
        intrinsic = max(0.0, (underlying.price - strike) * (1 if put_or_call == "C" else -1))
        price = round(intrinsic + self.rng.uniform(0.5, 12), 2)
        return self.add(ticker=underlying.ticker, asset_class="OPT", currency=underlying.currency,
                        price=price, description=description, listing_exchange="SMART",
                        multiplier=100.0, expiry=expiry, put_or_call=put_or_call, strike=strike,
                        underlying_conid=underlying.conid)

    def future(self, ticker: str, multiplier: float, price: float, currency: str,
               exchange: str, months_ahead: int) -> Contract:
        year, month = 2026 + (10 + months_ahead) // 12, (10 + months_ahead) % 12 + 1
        return self.add(ticker=ticker, asset_class="FUT", currency=currency, price=price,
                        description=f"{ticker} {_MONTHS[month - 1]}{year % 100}",
                        listing_exchange=exchange, multiplier=multiplier,
                        expiry=f"{year}{month:02d}19")


def _position(rng: random.Random, contract: Contract, short_allowed: bool = False) -> Position:
    if contract.asset_class == "STK":
        quantity = float(rng.choice((5, 10, 15, 20, 25, 40, 50, 75, 100, 150)))
    else:
        quantity = float(rng.choice((1, 2, 3, 5, 10)))
    if short_allowed and rng.random() < 0.25:
        quantity = -quantity
    average_price = round(contract.price * rng.uniform(0.7, 1.25), 4)
    return Position(conid=contract.conid, quantity=quantity, average_price=average_price,
                    realized_pnl=round(rng.uniform(-500, 1500), 2))


def _large_account_contracts(maker: _ContractMaker) -> list[Contract]:
    stocks = [maker.stock(ticker, "USD", "NASDAQ") for ticker in _US_STOCKS]
    options = [maker.option(stocks[index % 20], "C" if index % 2 else "P", index % 6)
               for index in range(45)]
    futures = [maker.future(*spec[:4], exchange=spec[4], months_ahead=1)
               for spec in _FUTURES if spec[3] == "USD"]
    # Synthetic tickers fill the account up to a few hundred lines, as large real accounts have.
    synthetic = LARGE_ACCOUNT_POSITIONS - len(stocks) - len(options) - len(futures)
    stocks += [maker.stock(f"SIM{number:03d}", "USD", "NYSE") for number in range(synthetic)]
    return stocks + options + futures


class _OrderMaker:
    """Numbers orders and spreads the order types and statuses the connector must tell apart."""

    def __init__(self, rng: random.Random) -> None:
        self.rng = rng
        self.next_order_id = 1158442170
        self.execution_ms = 1_795_000_000_000

    def make(self, account: Account, contract: Contract, order_type: str, status: str,
             side: str = "SELL") -> Order:
        self.next_order_id += 1 + self.rng.randrange(9)
        self.execution_ms += self.rng.randrange(1, 3_600_000)
        price = contract.price
        quantity = float(self.rng.choice((1, 5, 10, 50, 100)))
        limit_price = stop_price = None
        if order_type == "Stop":
            stop_price = f"{price * 0.9:.2f}"
        elif order_type == "Stop Limit":
            stop_price, limit_price = f"{price * 0.9:.2f}", f"{price * 0.89:.2f}"
        elif order_type == "TRAILING_STOP":
            stop_price = self.rng.choice(("5", "2%", "1.5", "10%"))
        elif order_type == "TRAILING_STOP_LIMIT":
            stop_price, limit_price = self.rng.choice(("3", "2%")), f"{price * 0.95:.2f}"
        elif order_type == "Limit":
            limit_price = f"{price * (1.1 if side == 'SELL' else 0.9):.2f}"
        filled = quantity if status == "Filled" else 0.0
        return Order(order_id=self.next_order_id, account_id=account.account_id,
                     conid=contract.conid, side=side, order_type=order_type, quantity=quantity,
                     status=status, filled_quantity=filled, price=limit_price,
                     aux_price=stop_price, time_in_force=self.rng.choice(("GTC", "DAY")),
                     last_execution_ms=self.execution_ms)


_ORDER_MIX = (  # order type, status, side
    ("Stop", "Submitted", "SELL"),
    ("Stop", "PreSubmitted", "SELL"),
    ("Stop Limit", "Submitted", "SELL"),
    ("TRAILING_STOP", "Submitted", "SELL"),
    ("TRAILING_STOP", "PreSubmitted", "SELL"),
    ("TRAILING_STOP_LIMIT", "Submitted", "SELL"),
    ("Limit", "Submitted", "BUY"),
    ("Limit", "Filled", "SELL"),
    ("Market", "Filled", "BUY"),
    ("Stop", "Cancelled", "SELL"),
    ("Stop Limit", "Inactive", "SELL"),
    ("TRAILING_STOP", "Filled", "SELL"),
)


def demo_book(seed: int = 7) -> Book:
    """The default scenario: USD, EUR and GBP accounts with stocks, options, futures and orders."""
    rng = random.Random(seed)  # noqa: S311 (a reproducible simulation, not a secret)
    maker = _ContractMaker(rng)
    orders = _OrderMaker(rng)

    large = Account(account_id="U1234567", base_currency="USD", title="Demo Growth (USD)",
                    cash={"USD": 84_250.55, "EUR": 3_100.0})
    large.positions = [_position(rng, contract, short_allowed=contract.asset_class != "STK")
                       for contract in _large_account_contracts(maker)]

    euro = Account(account_id="U2345678", base_currency="EUR", title="Demo Europe (EUR)",
                   cash={"EUR": 25_400.0, "USD": -1_200.5})
    euro_contracts = [maker.stock(ticker, "EUR", "IBIS") for ticker in _EU_STOCKS]
    euro_contracts += [maker.stock(ticker, "USD", "NASDAQ") for ticker in ("QQQ", "SPY")]
    euro_contracts.append(maker.future("FDAX", 25.0, 19200.0, "EUR", "EUREX", 1))
    euro_contracts.append(maker.option(euro_contracts[0], "P", 2))
    euro.positions = [_position(rng, contract) for contract in euro_contracts]

    sterling = Account(account_id="U3456789", base_currency="GBP", title="Demo Income (GBP)",
                       cash={"GBP": 12_000.0})
    sterling_contracts = [maker.stock(ticker, "GBP", "LSE") for ticker in _UK_STOCKS]
    sterling.positions = [_position(rng, contract) for contract in sterling_contracts]

    for account in (large, euro, sterling):
        held = [maker.contracts[position.conid] for position in account.positions]
        for index, (order_type, status, side) in enumerate(_ORDER_MIX):
            contract = held[(index * 7) % len(held)]
            account.orders.append(orders.make(account, contract, order_type, status, side))

    return Book(accounts=[large, euro, sterling], contracts=maker.contracts, seed=seed)


def empty_book(seed: int = 7) -> Book:
    """A brokerage with no accounts (fill it through the control API)."""
    return Book(accounts=[], contracts={}, seed=seed)


SCENARIOS = {"demo": demo_book, "empty": empty_book}
