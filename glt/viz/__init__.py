"""Figures: positional-embedding similarity, attention maps, embeddings, results and skeletons.

Every function takes arrays (numpy, or torch tensors, which are copied to numpy) and returns a
matplotlib `Figure` (or, for `skeleton_animation`, a `FuncAnimation`, which `animation_html` turns
into a player that needs no network); nothing is shown or saved here. The supplementary's figures
(method §6) are:

- Fig. A, `positional_similarity`: cosine similarity between one learned positional-embedding
  vector M[t, j] and every M[t', j'], one tile per chosen (frame, token);
- Figs. B and C, `attention_grid`: temporal (T x T) and spatial (J x J) attention maps, one tile per
  block and head, averaged over evaluation clips (`glt.features.average_attention` computes them).

Heat maps use one fixed colormap, viridis ("yellow = large", as in the paper), one colour bar
shared by all tiles of a figure, and light grey for entries that are undefined (NaN), e.g. pairs
of frames that no averaged clip was long enough to have.

The figures are grouped by subject, and every one is importable from here (`viz.attention_grid`):

    glt.viz.attention   Fig. A, Figs. B and C, t-SNE of embeddings
    glt.viz.training    metric curves, the pretraining loss, confusion matrix, ablation tables
    glt.viz.data        preprocessing, clip lengths, resampling, pretraining targets
    glt.viz.skeletons   poses and animations
"""

from glt.viz.attention import (
    attention_grid,
    cosine_similarity_map,
    positional_similarity,
    tsne_embeddings,
)
from glt.viz.data import (
    displacement_target_maps,
    global_translation,
    length_histogram,
    magnitude_targets,
    resampling_comparison,
    shoulder_top_view,
)
from glt.viz.skeletons import (
    animation_html,
    draw_skeleton,
    skeleton_animation,
    skeleton_frames,
    skeleton_positions,
)
from glt.viz.style import CMAP, MISSING_COLOR, PERSON_COLORS, token_names
from glt.viz.training import (
    confusion_matrix,
    plot_loss,
    plot_paper_deltas,
    plot_table,
    training_curves,
)

__all__ = [
    "CMAP",
    "MISSING_COLOR",
    "PERSON_COLORS",
    "animation_html",
    "attention_grid",
    "confusion_matrix",
    "cosine_similarity_map",
    "displacement_target_maps",
    "draw_skeleton",
    "global_translation",
    "length_histogram",
    "magnitude_targets",
    "plot_loss",
    "plot_paper_deltas",
    "plot_table",
    "positional_similarity",
    "resampling_comparison",
    "shoulder_top_view",
    "skeleton_animation",
    "skeleton_frames",
    "skeleton_positions",
    "token_names",
    "training_curves",
    "tsne_embeddings",
]
