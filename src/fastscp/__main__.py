"""`python -m fastscp` runs the command-line receiver."""
import sys

from fastscp.cli import main

sys.exit(main())
