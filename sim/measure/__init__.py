"""Measurements: competence on skills and k'-tuples, emergence curves and the doubling check."""
