"""The operator's `civicbot` commands (each loads only what it needs)."""
