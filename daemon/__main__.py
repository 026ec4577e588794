"""`python -m daemon`: the same as the `pictod` command (what a service unit runs when no script is installed)."""

import sys

from daemon.cli.main import main

if __name__ == "__main__":  # imported (tests/test_imports.py imports every module), it does nothing
    sys.exit(main())
