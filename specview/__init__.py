"""specview: explainable audio anomaly detection on spectrograms."""

__version__ = "0.1.0"
