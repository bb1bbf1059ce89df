"""The graph engine: counter-based random streams, the lazy skill–text graph, the counting
kernels (each with a numpy twin), graph export and statistics, and the engine benchmark."""
