"""The ``aiocosmos`` command line (ingest and export), on top of the resource API."""
