"""The older form of ``floodsar-train synthetic``: python -m floodsar.training.synthetic ..."""
import sys

from ..cli import main

sys.exit(main(["synthetic", *sys.argv[1:]]))
