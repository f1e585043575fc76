"""SMS and WhatsApp: Twilio or an Android phone's SIM; keywords, segments, media."""
