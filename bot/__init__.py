"""Wiring: configuration, the command line, the web server, the channels, digests."""
