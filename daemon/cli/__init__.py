"""The `pictod` command line: one module per command group."""
