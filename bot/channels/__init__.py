"""How residents and staff are reached: one package per channel (telegram, sms, webchat,
terminal) and what they share: the outbox and its pacing, acknowledgements, answer
rendering, notices, incoming pictures."""
