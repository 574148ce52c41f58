"""Forges: where promobot reads environment repos and opens promotions."""
