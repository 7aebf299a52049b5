"""Foundations every layer may use: errors and warnings, runtime (devices, precision, cache folder), interrupts, progress bars, atomic writes, lazy ArviZ."""
