"""Plots of fitted laws (matplotlib)."""
