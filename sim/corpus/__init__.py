"""Learnable corpora generated from the skill graph (docs/theory.md §9: trained learners).

``make_corpus(CorpusConfig(...))`` draws a corpus whose pieces come from the project's skill
graph and whose questions are random, seeded skill functions a model has to learn;
``write_corpus`` / ``load_corpus`` store it as a folder of parquet tables anyone can train on.
See `sim.corpus.build` for exactly how each split is drawn, and `sim.measure.trained` for
how a model's predictions on it are measured.
"""

from sim.corpus.build import make_corpus
from sim.corpus.config import CorpusConfig
from sim.corpus.io import load_corpus, write_corpus
from sim.corpus.types import Corpus, Split

__all__ = ["CorpusConfig", "make_corpus", "write_corpus", "load_corpus", "Corpus", "Split"]
