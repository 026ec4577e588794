"""`python -m daemon`: the same as the `pictod` command (what a service unit runs when no script is installed)."""

import sys

from daemon.cli.main import main

sys.exit(main())
