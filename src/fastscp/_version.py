"""fastscp's version, the one place it is written (pyproject.toml reads it
from here; reading it back from the installed metadata cost ~60 ms at every
start)."""
__version__ = "0.1.0"
