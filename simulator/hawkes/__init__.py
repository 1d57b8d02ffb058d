"""Marked multivariate Hawkes processes with exponential kernels."""
