"""privacy-checks: audit speech emotion recognition models for gender leakage.

Importing the package is cheap (no torch): the pytest plugin stays free until it is switched on.
"""

__version__ = "0.1.0"
