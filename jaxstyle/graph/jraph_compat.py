"""The only module that imports jraph: GraphsTuple and the segment ops the general message-passing path uses.

jraph is unmaintained since 2022; only these pieces are used (they work on current JAX). Helpers that call removed
JAX APIs (``zero_out_padding``, ``get_fully_connected_graph``, ``jraph.experimental``) are deliberately not
re-exported.
"""

from jraph import GraphsTuple, segment_max, segment_softmax, segment_sum

__all__ = ["GraphsTuple", "segment_max", "segment_softmax", "segment_sum"]
