"""The staff console at /staff (docs/operations.md): the chat inbox as pages, for staff who
work from a browser; signed in by a one-time link the bot sends (/web, SMS ВЕБ)."""
