"""`sim run` as a library: config → graph → learner → error sets → measurements → tables → files."""
