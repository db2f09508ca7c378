"""The patch graph: edge building, GraphsTuples, deformable scales and message passing (pure, jittable)."""

from jaxstyle.graph.build import content_knn_edges, knn_edges, knn_from_nodes, pair_scores, spatial_edges
from jaxstyle.graph.graphs import build_graph, with_patches
from jaxstyle.graph.message_passing import AGGREGATORS, GraphLayer, propagate_fast, propagate_general

__all__ = ["content_knn_edges", "knn_edges", "knn_from_nodes", "pair_scores", "spatial_edges", "build_graph",
           "with_patches", "AGGREGATORS", "GraphLayer", "propagate_fast", "propagate_general"]
