"""Feeds over the wire layer: results and pages, paging and continuation tokens, the routing map and
feed ranges, effective-partition-key hashing, the change feed, and the core a client shares with its
proxies."""
