"""The chat on the public pages: the same conversations in a browser."""
