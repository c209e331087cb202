"""The change feed processor: leases in a lease container (compatible with the .NET v3 and Java v4
processors), equal-partitions balancing across hosts, per-lease delivery with checkpoints."""
