"""Reo.Dev Product Usage API: payload contract, event building, sender and delivery ledger."""
