"""The ``minke`` command line: argparse adapters over ``minke.Engine``."""
