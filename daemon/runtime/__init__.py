"""The running daemon: the service, the intake stages, the roots guard, reconciliation, the watch adapter,
flow control, the library lock, systemd notify, memory, the progress line, sidecar syncing."""
