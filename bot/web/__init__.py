"""The web server: its routes, the public pages and open data (Open311, statistics), photos."""
