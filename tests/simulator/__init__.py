"""Tests of the IBKR gateway simulator."""
