"""Tests for glt.widgets: recording, ranking, the state -> figure functions and the widgets."""

from __future__ import annotations

import base64

import ipywidgets
import nbformat
import numpy as np
import pytest
import torch
from matplotlib.figure import Figure
from nbconvert import HTMLExporter

from glt import viz, widgets
from glt.data.preprocess import preprocess
from glt.data.synthetic.scene import ClipKey, synthesize_clip
from glt.errors import GLTError
from glt.layout import NTU
from glt.model import GLTConfig, GLTransformer
from glt.targets import displacement_targets

PNG_MAGIC = b"\x89PNG\r\n\x1a\n"


@pytest.fixture(scope="module")
def raw() -> np.ndarray:
    """A two-person camera-space recording (punching), cut short."""
    return synthesize_clip(0, ClipKey(1, 2, 1, 1, 50))[:40].astype(np.float32)


@pytest.fixture(scope="module")
def clips(raw) -> list[np.ndarray]:
    other = synthesize_clip(0, ClipKey(1, 1, 2, 1, 23))[:40].astype(np.float32)
    return [preprocess(raw, NTU), preprocess(other, NTU)[:25]]


@pytest.fixture(scope="module")
def encoder() -> GLTransformer:
    torch.manual_seed(0)
    return GLTransformer(GLTConfig.preset("tiny", NTU, num_frames=32))


@pytest.fixture(scope="module")
def records(encoder, clips) -> list[widgets.ClipAttention]:
    return widgets.record_attention(encoder, clips, ["punch", "other"], device="cpu")


def panels(fig: Figure) -> list:
    return [ax for ax in fig.axes if ax.get_label() != "<colorbar>"]


def test_record_attention_crops_keeps_mode_and_rows_sum_to_one(encoder, clips, records):
    encoder.train()
    again = widgets.record_attention(encoder, clips[:1], device="cpu")
    assert encoder.training  # given back as it came
    np.testing.assert_array_equal(again[0].temporal, records[0].temporal)  # eval: deterministic
    assert again[0].name == "clip 1"
    first, second = records
    assert first.clip.shape == (32, 2, 25, 3)  # 40 preprocessed frames, cropped to num_frames
    assert first.temporal.shape == (2, 2, 32, 32)  # (depth, H, L, L)
    assert first.spatial.shape == (2, 32, 2, 50, 50)  # (depth, L, H, J, J)
    assert second.temporal.shape == (2, 2, 25, 25)
    np.testing.assert_allclose(first.temporal.sum(-1), 1.0, atol=1e-5)
    np.testing.assert_allclose(second.spatial.sum(-1), 1.0, atol=1e-5)
    with pytest.raises(GLTError, match="2 names for 1 clips"):
        widgets.record_attention(encoder, clips[:1], ["a", "b"])


def test_top_attended_ranks_largest_first_ties_by_index_skips_nan():
    row = [0.1, 0.4, np.nan, 0.4, 0.05]
    assert widgets.top_attended(row, 3) == [(1, 0.4), (3, 0.4), (0, 0.1)]
    assert [i for i, _ in widgets.top_attended(row, 10)] == [1, 3, 0, 4]
    assert widgets.top_attended(torch.tensor([0.2, 0.7]), 1) == [(1, pytest.approx(0.7))]
    with pytest.raises(GLTError, match="one row"):
        widgets.top_attended(np.ones((2, 2)))


VIEWS = [
    widgets.AttentionView(),
    widgets.AttentionView(clip=1, block=1, head=1, frame=24),
    widgets.AttentionView(kind="spatial", frame=5, token=NTU.token(11, 0)),  # right hand, person 1
    widgets.AttentionView(clip=1, kind="spatial", block=1, head=0, frame=20, token=NTU.token(3, 1)),
]


@pytest.mark.parametrize("view", VIEWS, ids=lambda v: f"{v.kind}-c{v.clip}b{v.block}h{v.head}")
def test_attention_figure_shows_the_state(records, view):
    record = records[view.clip]
    fig = widgets.attention_figure(record, NTU, view, top=4)
    ax_map, ax_pose, ax_rank = panels(fig)
    assert len(fig.axes) == 4  # three panels and one colour bar
    assert ax_map.get_title() == f"Block {view.block + 1}, head {view.head + 1}"
    for ax in (ax_map, ax_pose, ax_rank):
        assert ax.get_xlabel() and ax.get_ylabel()
    assert ax_map.images[0].get_cmap().name == viz.CMAP
    assert record.name in fig._suptitle.get_text()
    if view.kind == "temporal":
        matrix = record.temporal[view.block, view.head]
        query, names = view.frame, [f"frame {i}" for i in range(len(matrix))]
    else:
        matrix = record.spatial[view.block, view.frame, view.head]
        query, names = view.token, viz.token_names(NTU)
    np.testing.assert_array_equal(ax_map.images[0].get_array(), matrix)
    (span,) = [p for p in ax_map.patches if p.get_edgecolor()[:3] == (1.0, 0.0, 0.0)]
    assert (span.get_y(), span.get_height()) == (query - 0.5, 1.0)  # the query's row
    expected = widgets.top_attended(matrix[query], 4)
    bars = ax_rank.containers[0]
    np.testing.assert_allclose([b.get_width() for b in bars], [w for _, w in expected])
    assert [t.get_text() for t in ax_rank.get_yticklabels()] == [names[i] for i, _ in expected]
    if view.kind == "spatial":  # joints coloured by the query token's weights, per person
        joint_weights = matrix[query].reshape(25, 2)
        colored = [c for c in ax_pose.collections if c.get_array() is not None]
        np.testing.assert_allclose(colored[0].get_array(), joint_weights[:, 0])


def test_attention_view_outside_the_clip_is_an_error(records):
    with pytest.raises(GLTError, match="frame=25 outside 0..24"):
        widgets.attention_figure(records[1], NTU, widgets.AttentionView(clip=1, frame=25))
    with pytest.raises(GLTError, match="kind must be"):
        widgets.attention_matrix(records[0], widgets.AttentionView(kind="both"))


def test_preprocessing_steps(raw):
    steps = widgets.preprocessing_steps(raw, NTU)
    camera, relative, aligned = steps.values()
    expected = preprocess(raw, NTU)
    assert camera.shape == relative.shape == aligned.shape == expected.shape
    c = NTU.center
    np.testing.assert_array_equal(np.delete(aligned, c, axis=2), np.delete(expected, c, axis=2))
    assert not aligned[:, :, c].any() and not relative[:, :, c].any()
    centre = np.broadcast_to(camera[:, :, c : c + 1], camera.shape)
    np.testing.assert_allclose(camera - relative, centre, atol=1e-6)  # float32 rounding
    fig = widgets.steps_figure(steps, NTU, 7)
    assert [ax.get_title() for ax in panels(fig)] == list(steps)
    assert fig._suptitle.get_text() == "Preprocessing steps, frame 7 of 40"


def test_targets_figure_colours_joints_by_class_and_draws_displacements(clips):
    clip, intervals, t = clips[0], (1, 5, 10), 7
    magnitude = widgets.clip_magnitudes(clip, intervals)
    x = torch.from_numpy(clip)[None]
    _, direct = displacement_targets(
        x, torch.tensor([len(clip)]), torch.tensor([[True, True]]), intervals
    )
    np.testing.assert_array_equal(magnitude, direct[0].numpy())
    fig = widgets.targets_figure(clip, NTU, magnitude, intervals, t)
    axes = panels(fig)
    assert [ax.get_title() for ax in axes] == [f"interval r = {r}" for r in intervals]
    for r, (ax, interval) in enumerate(zip(axes, intervals, strict=True)):
        arrows = next(c for c in ax.collections if hasattr(c, "U"))  # person 1's quiver
        d = clip[max(t - interval, 0), 0] - clip[t, 0]
        np.testing.assert_allclose(arrows.U, d[:, 0], atol=1e-6)
        np.testing.assert_allclose(arrows.V, d[:, 1], atol=1e-6)
        dots = next(c for c in ax.collections if c.get_array() is not None and not hasattr(c, "U"))
        np.testing.assert_array_equal(dots.get_array(), magnitude[t, r].reshape(25, 2)[:, 0])
    with pytest.raises(GLTError, match="magnitude must be"):
        widgets.targets_figure(clip, NTU, magnitude[:, :2], intervals, t)


def test_attention_explorer_controls_redraw(encoder, clips):
    explorer = widgets.attention_explorer(encoder, clips, NTU, names=["punch", "other"])
    controls = explorer.controls
    assert set(controls) == {"clip", "kind", "block", "head", "frame", "token"}
    assert all(isinstance(c, ipywidgets.ValueWidget) for c in controls.values())
    assert isinstance(explorer.widget, ipywidgets.VBox)
    assert explorer.state == {"clip": 0, "kind": "temporal", "block": 0, "head": 0, "frame": 16,
                              "token": 0}  # fmt: skip
    assert controls["token"].disabled
    before = bytes(explorer.image.value)
    assert before.startswith(PNG_MAGIC)

    controls["head"].value = 1
    assert panels(explorer.figure())[0].get_title() == "Block 1, head 2"
    assert explorer.image.value != before

    controls["kind"].value = "spatial"
    controls["token"].value = NTU.token(7, 0)
    assert not controls["token"].disabled
    assert "left hand p1" in explorer.figure()._suptitle.get_text()

    controls["frame"].value = 31
    controls["clip"].value = 1  # 25 frames: the slider follows and the frame is clamped
    assert controls["frame"].max == 24 and explorer.state["frame"] == 24
    assert explorer.figure()._suptitle.get_text().startswith("other: spatial attention, frame 24")


@pytest.mark.parametrize("show", ["targets", "steps"])
def test_skeleton_player_frame_update(raw, clips, show):
    clip = clips[0] if show == "targets" else raw
    player = widgets.skeleton_player(clip, NTU, show=show, frame=3)
    play, slider = player.widget.children[0].children
    assert isinstance(play, ipywidgets.Play) and isinstance(slider, ipywidgets.IntSlider)
    assert play.max == slider.max == 39 and play.value == slider.value == 3
    assert "frame 3 of 40" in player.figure()._suptitle.get_text().lower()
    before = bytes(player.image.value)
    slider.value = 20
    assert player.state == {"frame": 20}
    assert "frame 20 of 40" in player.figure()._suptitle.get_text().lower()
    assert player.image.value == widgets.figure_png(player.figure())  # the picture of the state
    assert player.image.value != before
    slider.value = 3
    assert player.image.value == before  # a kept picture


def test_skeleton_player_rejects_bad_arguments(clips):
    with pytest.raises(GLTError, match="show must be"):
        widgets.skeleton_player(clips[0], NTU, show="both")
    with pytest.raises(GLTError, match="frame=40 outside"):
        widgets.skeleton_player(clips[0], NTU, frame=40)


def test_static_fallback_is_the_current_figure_and_survives_html_export(clips):
    player = widgets.skeleton_player(clips[1], NTU, frame=2)
    bundle = player._repr_mimebundle_()
    assert "application/vnd.jupyter.widget-view+json" in bundle  # a live frontend shows the widget
    png = base64.b64decode(bundle["image/png"])
    assert png.startswith(PNG_MAGIC) and png == bytes(player.image.value)
    # Executed and exported without the widget's state (no kernel), the report shows the PNG.
    notebook = nbformat.v4.new_notebook()
    cell = nbformat.v4.new_code_cell("skeleton_player(...)")
    cell.outputs = [nbformat.v4.new_output("display_data", data=bundle)]
    notebook.cells = [cell]
    html, _ = HTMLExporter().from_notebook_node(notebook)
    assert bundle["image/png"] in html
