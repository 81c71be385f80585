"""privacy-checks: audit speech emotion recognition models for gender leakage.

Importing the package is cheap (no torch): the pytest plugin stays free until it is switched on.
"""

from privacy_checks.engine.custom import CustomAttacker

__version__ = "0.1.0"
__all__ = ["CustomAttacker", "__version__"]
