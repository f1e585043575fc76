"""The running service: settings, wiring (Runtime), logs, metrics, i18n, housekeeping."""
