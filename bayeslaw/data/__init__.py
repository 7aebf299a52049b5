"""Runs tables: reading and validating runs, row filters, checkpoint encoding, and the bundled data-set registry."""
