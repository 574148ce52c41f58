"""The HTTP side: webhook endpoints, the overview page and the JSON API."""
