"""`civicbot chat`: the conversations in a terminal, for trying the bot out."""
