"""Tests for glt.viz: every helper returns a Figure with the expected panels, titles and labels."""

from __future__ import annotations

import matplotlib.pyplot as plt
import numpy as np
import pytest
import torch
from matplotlib.animation import FuncAnimation
from matplotlib.figure import Figure

from glt import viz
from glt.layout import NTU, NWUCLA


@pytest.fixture(autouse=True)
def _close_figures():
    yield
    plt.close("all")


def panels(fig: Figure) -> list:
    """The data axes of a figure (colour bars excluded)."""
    return [ax for ax in fig.axes if ax.get_label() != "<colorbar>"]


def colorbars(fig: Figure) -> list:
    return [ax for ax in fig.axes if ax.get_label() == "<colorbar>"]


def assert_labelled(fig: Figure) -> None:
    for ax in panels(fig):
        assert ax.get_xlabel(), f"unlabelled x axis in {ax.get_title()!r}"
        assert ax.get_ylabel(), f"unlabelled y axis in {ax.get_title()!r}"


def test_cosine_similarity_map_known_values():
    m = np.zeros((2, 3, 2))
    m[0, 0] = [1, 0]
    m[0, 1] = [0, 2]  # orthogonal
    m[1, 0] = [-3, 0]  # opposite
    m[1, 1] = [1, 1]  # 45 degrees
    # m[0, 2], m[1, 2] stay zero: similarity 0, not NaN
    sim = viz.cosine_similarity_map(m, 0, 0)
    expected = np.array([[1, 0, 0], [-1, np.sqrt(0.5), 0]])
    np.testing.assert_allclose(sim, expected, atol=1e-12)
    # a stored (1, T, J, D) parameter with gradients is accepted
    param = torch.nn.Parameter(torch.from_numpy(m[None]).float())
    np.testing.assert_allclose(viz.cosine_similarity_map(param, 0, 0), expected, atol=1e-6)


def test_positional_similarity_grid():
    pos = np.random.default_rng(0).normal(size=(16, 6, 4))
    fig = viz.positional_similarity(pos, frames=[0, 8, 15], joints=[1, 5])
    assert isinstance(fig, Figure)
    axes = panels(fig)
    assert len(axes) == 6 and len(colorbars(fig)) == 1
    assert axes[0].get_title() == "frame 0, token 1"
    assert axes[-1].get_title() == "frame 15, token 5"
    assert_labelled(fig)
    image = axes[0].get_images()[0]
    assert image.get_array().shape == (16, 6)  # frames down, tokens across
    assert image.get_cmap().name == viz.CMAP


@pytest.mark.parametrize("kind, n", [("temporal", 12), ("spatial", 6)])
def test_attention_grid_titles_and_shared_colorbar(kind, n):
    rng = np.random.default_rng(0)
    maps = rng.dirichlet(np.ones(n), size=(2, 3, n))  # (depth, H, N, N)
    if kind == "temporal":
        maps[:, :, 10:, :] = np.nan  # entries no clip had: drawn grey, not an error
    labels = [f"tok{i}" for i in range(n)] if kind == "spatial" else None
    fig = viz.attention_grid(maps, kind, token_labels=labels)
    axes = panels(fig)
    assert len(axes) == 6 and len(colorbars(fig)) == 1
    titles = [ax.get_title() for ax in axes]
    assert titles == [f"Block {b}, head {h}" for b in (1, 2) for h in (1, 2, 3)]
    assert_labelled(fig)
    assert axes[0].get_xlabel() == ("key frame" if kind == "temporal" else "key token")
    limits = {ax.get_images()[0].get_clim() for ax in axes}
    assert len(limits) == 1  # one colour scale for all tiles
    assert limits.pop()[1] == pytest.approx(np.nanmax(maps))


def test_attention_grid_rejects_bad_input():
    with pytest.raises(ValueError, match="kind"):
        viz.attention_grid(np.zeros((1, 1, 3, 3)), "channel")
    with pytest.raises(ValueError, match="depth, H, N, N"):
        viz.attention_grid(np.zeros((1, 3, 3)))
    with pytest.raises(ValueError, match="labels"):
        viz.attention_grid(np.zeros((1, 1, 3, 3)), "spatial", token_labels=["a", "b"])


def test_tsne_embeddings_legend_per_class():
    rng = np.random.default_rng(0)
    labels = np.repeat(np.arange(3), 10)
    emb = rng.normal(size=(30, 8)) + labels[:, None] * 5.0
    fig = viz.tsne_embeddings(emb, labels, ["walk", "sit", "jump"])
    (ax,) = panels(fig)
    assert [t.get_text() for t in ax.get_legend().get_texts()] == ["walk", "sit", "jump"]
    assert len(ax.collections) == 3
    assert_labelled(fig)


def test_confusion_matrix_normalises_rows():
    cm = np.array([[8, 2, 0], [0, 0, 0], [1, 1, 2]])
    fig = viz.confusion_matrix(cm, ["a", "b", "c"])
    ax = panels(fig)[0]
    assert ax.get_xlabel() == "predicted class" and ax.get_ylabel() == "true class"
    values = ax.collections[0].get_array().reshape(3, 3)
    np.testing.assert_allclose(values[0], [80, 20, 0])
    np.testing.assert_allclose(values[2], [25, 25, 50])
    assert np.ma.getmaskarray(values)[1].all()  # a class without clips stays empty
    assert len(colorbars(fig)) == 1


def test_training_curves_panels():
    metrics = [
        {"epoch": e, "train_loss": 1 / e, "train_top1": 10.0 * e, "test_top1": 9.0 * e}
        for e in range(1, 6)
    ]
    metrics[2].pop("test_top1")  # a row without the key is skipped
    fig = viz.training_curves(metrics, ["train_loss", ("train_top1", "test_top1")])
    loss_ax, acc_ax = panels(fig)
    assert loss_ax.get_xlabel() == "epoch" and loss_ax.get_ylabel() == "train_loss"
    assert acc_ax.get_ylabel() == "top1"
    assert len(acc_ax.lines) == 2 and len(acc_ax.lines[1].get_xdata()) == 4
    with pytest.raises(KeyError):
        viz.training_curves(metrics, ["nope"])


def _two_person_clip(t: int = 10) -> np.ndarray:
    rng = np.random.default_rng(0)
    clip = rng.normal(size=(t, 2, 25, 3)).astype(np.float32)
    clip[:, 1] = 0.0  # second person absent
    return clip


def test_skeleton_positions_restores_the_translation():
    clip = np.zeros((2, 1, 20, 3), dtype=np.float32)
    clip[:, 0, 0] = [0.0, -0.5, 0.0]  # hip 0.5 m below the shoulder centre
    clip[1, 0, NWUCLA.center] = [1.0, 0.0, 0.0]  # moved 1 m along x since frame 0
    pos = viz.skeleton_positions(clip, NWUCLA, preprocessed=True)
    np.testing.assert_allclose(pos[0, 0, NWUCLA.center], [0, 0, 0])
    np.testing.assert_allclose(pos[1, 0, NWUCLA.center], [1, 0, 0])
    np.testing.assert_allclose(pos[1, 0, 0], [1, -0.5, 0])
    np.testing.assert_allclose(viz.skeleton_positions(clip, NWUCLA, preprocessed=False), clip)
    with pytest.raises(ValueError, match="layout"):
        viz.skeleton_positions(clip, NTU)


def test_skeleton_frames_strip():
    clip = _two_person_clip()
    fig = viz.skeleton_frames(clip, NTU, [0, 5, -1])
    axes = panels(fig)
    assert [ax.get_title() for ax in axes] == ["frame 0", "frame 5", "frame 9"]
    assert_labelled(fig)
    assert len(axes[0].lines) == len(NTU.bones)  # only the present person is drawn
    with pytest.raises(IndexError):
        viz.skeleton_frames(clip, NTU, [10])


def test_skeleton_animation_draws_every_frame():
    clip = _two_person_clip(6)
    clip[:, 1] = 0.3  # both persons present now
    anim = viz.skeleton_animation(clip, NTU, length=4)
    assert isinstance(anim, FuncAnimation)
    html = viz.animation_html(anim)
    assert html.count("data:image/png;base64") == 4
    assert "http" not in html  # the player's icons come with it: blank buttons offline otherwise
    assert ".fa-play:not(.fa-flip-horizontal)::before" in html
    ax = anim._fig.axes[0]
    assert ax.get_xlabel() == "x (m)" and ax.get_ylabel() == "y (m)"
    assert len(ax.lines) == 2 * len(NTU.bones) + 2


def test_token_names_follow_the_model_token_order():
    names = viz.token_names(NTU)
    assert len(names) == NTU.num_tokens
    assert names[NTU.token(20, 1)] == "spine at the sh. p2"
    assert names[NTU.token(3, 0)] == "head p1"
    assert viz.token_names(NWUCLA)[NWUCLA.center] == "shoulder centre"


# --- data and target figures (notebooks 01 and 03) ----------------------------------------------


def test_global_translation_one_panel_per_present_person():
    clip = _two_person_clip(12)
    fig = viz.global_translation(clip, NTU, length=8, title="t")
    (ax,) = panels(fig)  # the absent second person gets no panel
    assert ax.get_title() == "person 1: global translation"
    assert len(ax.lines) == 3 and len(ax.lines[0].get_xdata()) == 8
    assert_labelled(fig)
    clip[:, 1] = 0.2
    assert len(panels(viz.global_translation(clip, NTU))) == 2


def test_shoulder_top_view_grid_and_shared_colorbar():
    before = _two_person_clip(30)
    before[:, 1] = 0.1
    after = before.copy()
    fig = viz.shoulder_top_view(before, after, NTU, length=20, max_lines=10)
    axes = panels(fig)
    assert len(axes) == 4 and len(colorbars(fig)) == 1  # 2 persons x (before, after)
    assert axes[0].get_title() == "person 1, before alignment (camera view)"
    assert axes[3].get_title() == "person 2, after alignment"
    assert axes[0].get_xlabel() == "x (m)" and axes[0].get_ylabel() == "z (m, depth)"
    assert len(axes[0].lines) == 2 * 10  # a segment and a dot per drawn frame
    assert colorbars(fig)[0].get_ylabel() == "frame"
    assert_labelled(fig)
    with pytest.raises(ValueError):
        viz.shoulder_top_view(before, after[:5], NTU)


def test_length_histogram():
    fig = viz.length_histogram(np.arange(10, 110), "Clip lengths")
    (ax,) = panels(fig)
    assert ax.get_title() == "Clip lengths"
    assert ax.lines[0].get_xdata()[0] == pytest.approx(59.5)  # the mean
    assert_labelled(fig)
    with pytest.raises(ValueError):
        viz.length_histogram([])


def test_resampling_comparison_speed_shrinks_with_the_stretch():
    t = np.linspace(0, 1, 40)
    natural = np.stack([t, np.sin(3 * t), 0 * t], axis=1)
    stretched = np.stack(
        [np.linspace(0, 1, 80), np.sin(3 * np.linspace(0, 1, 80)), 0 * t.repeat(2)], 1
    )
    fig = viz.resampling_comparison({"natural": natural, "x2": stretched}, joint="wrist")
    height, speed = panels(fig)
    assert height.get_ylabel() == "wrist y (m)" and speed.get_xlabel() == "fraction of the clip"
    assert [line.get_label() for line in speed.lines] == ["natural", "x2"]
    ratio = speed.lines[0].get_ydata().mean() / speed.lines[1].get_ydata().mean()
    assert ratio == pytest.approx(79 / 39, rel=0.05)
    assert_labelled(fig)
    with pytest.raises(ValueError):
        viz.resampling_comparison({"bad": np.zeros((5, 2))})


def test_displacement_target_maps_one_colorbar_per_column():
    rng = np.random.default_rng(0)
    direction, magnitude = rng.integers(0, 27, (20, 3, 4)), rng.integers(0, 16, (20, 3, 4))
    fig = viz.displacement_target_maps(direction, magnitude, [1, 5, 10], list("abcd"), title="x")
    axes = panels(fig)
    assert len(axes) == 6 and len(colorbars(fig)) == 2
    assert axes[0].get_title() == "direction, interval r = 1"
    assert axes[5].get_title() == "magnitude, interval r = 10"
    assert axes[0].get_images()[0].get_array().shape == (4, 20)  # tokens down, frames across
    assert [t.get_text() for t in axes[0].get_yticklabels()] == list("abcd")
    assert_labelled(fig)
    with pytest.raises(ValueError, match="labels"):
        viz.displacement_target_maps(direction, magnitude, [1, 5, 10], list("abc"))


def test_magnitude_targets_groups_tokens_by_person():
    magnitude = np.full((15, 2, NTU.num_tokens), 15)
    for j in range(NTU.num_joints):  # person 1 present, person 2 absent (class 15)
        magnitude[:, :, NTU.token(j, 0)] = j % 14
    fig = viz.magnitude_targets(magnitude, [1, 5], NTU)
    axes = panels(fig)
    assert len(axes) == 2 and len(colorbars(fig)) == 1
    assert [ax.get_title() for ax in axes] == ["magnitude class, r = 1", "magnitude class, r = 5"]
    image = axes[0].get_images()[0].get_array()
    assert image.shape == (NTU.num_tokens, 15)
    np.testing.assert_array_equal(image[: NTU.num_joints, 0], np.arange(NTU.num_joints) % 14)
    labels = [t.get_text() for t in axes[0].get_yticklabels()]
    assert "p1 head" in labels and "person 2 (absent)" in labels
    assert_labelled(fig)


def test_attention_grid_marks_the_padding():
    maps = np.random.default_rng(0).dirichlet(np.ones(8), size=(1, 2, 8))
    fig = viz.attention_grid(maps, "temporal", length=5)
    for ax in panels(fig):
        assert [line.get_xdata()[0] for line in ax.lines if line.get_linestyle() == "--"][0] == 4.5


def test_training_curves_with_step_rows():
    epochs = [{"epoch": e, "loss": 3.0 / e} for e in (1, 2)]
    steps = [{"epoch": s / 4, "loss": 4.0 - s / 4} for s in range(1, 9)]
    fig = viz.training_curves(epochs, ["loss"], steps=steps)
    (ax,) = panels(fig)
    thin, means = ax.lines
    assert len(thin.get_xdata()) == 8 and len(means.get_xdata()) == 2
    assert thin.get_color() == means.get_color()
    assert [t.get_text() for t in ax.get_legend().get_texts()] == ["logged steps", "epoch means"]
