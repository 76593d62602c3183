#!/usr/bin/env python3
"""Boot the whole stack on this machine without Docker: `python3 scripts/local/stack.py --help`.

The runner itself is the package beside this file (scripts/local/stack/); this is its command line.
"""

import sys

from stack.cli import main

if __name__ == "__main__":
    sys.exit(main())
