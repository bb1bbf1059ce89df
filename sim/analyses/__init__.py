"""Analyses built on the pipeline: the theory battery, the mirage, cliques and Skill-Mix."""
