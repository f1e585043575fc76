"""What is handed out: exports, bribe figures, signature lists, campaign summaries, posters."""
