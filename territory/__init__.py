"""territory: the environmental footprint of digital technology, commune by commune.

The public entry points are :func:`territory.run.run_pipeline` (what ``territory run`` calls)
and the command line (``territory --help``). Importing the package touches neither the disk
nor the network.
"""

from territory.errors import InputError, TerritoryError

__version__ = "0.1.0"

__all__ = ["InputError", "TerritoryError", "__version__"]
