"""Telemetry: OpenTelemetry spans and metrics (``tracing``), the logger hierarchy (``logs``) and the
operation names of the Cosmos DB semantic conventions (``names``). Beside ``_wire`` (layer 1);
opentelemetry itself is imported only when a client turns tracing on."""
