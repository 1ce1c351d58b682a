"""Loopback stand-ins for the vendors' APIs, used by the demo and the tests.

Production wiring never imports this package, and this package never imports our contracts or
parsers: it is written from the vendor documents, so it can catch us misreading them.
"""
