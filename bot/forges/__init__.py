"""Forges: where promobot reads environment repos and opens promotions.

`base` is the `Forge` Protocol and its data types (what the core speaks); `github`, `gitlab`
and `local` implement it, listed by name in `registry`; `archive`, `retry`, `observe` and
`httpcache` are what the forges share.
"""
