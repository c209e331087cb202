"""The resource API: client, databases, containers, and the features of a container (scripts, users
and permissions, throughput, attachments, conflicts, batch and read-many)."""
