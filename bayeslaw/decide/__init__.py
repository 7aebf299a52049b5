"""Decisions from a fit: compute-optimal allocation and probabilities for planned runs, which runs to train next (Bayesian design), and isoFLOP profiles."""
