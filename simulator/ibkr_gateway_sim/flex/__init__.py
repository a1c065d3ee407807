"""IBKR's Flex Web Service, simulated: tokens, queries, the two-step protocol and the XML."""
