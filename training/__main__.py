"""python -m floodsar.training COMMAND ...: the same as the floodsar-train command."""
import sys

from .cli import main

sys.exit(main())
