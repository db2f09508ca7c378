"""Video: the warping error and the synthetic clip, optical flow, the PyAV adapter, video mode and infer.py on a
video file (round trip, errors)."""

import fractions
import pathlib
import subprocess
import sys

import jax
import jax.numpy as jnp
import numpy as np
import pytest

import jaxstyle
from jaxstyle.data.images import resize_image, save_image
from jaxstyle.evaluation import pan_zoom_clip, warping_error
from jaxstyle.ops.flow import estimate_flow, warp

av = pytest.importorskip("av")
from jaxstyle.data.video import VideoError, VideoWriter, read_video  # noqa: E402

REPO = pathlib.Path(__file__).resolve().parents[1]


@pytest.fixture(scope="module")
def clip(content_photos):
    """16 frames of 64×80 panning and zooming over a real photo, with the exact backward flow."""
    src = resize_image(content_photos[0], (112, 128))
    frames, flow = pan_zoom_clip(src, 16, (64, 80), pan=(1.2, 0.6), zoom=1.01)
    return np.asarray(frames), np.asarray(flow)


def test_warp_and_warping_error_follow_the_definition(clip):
    frames, flow = clip
    # a whole-pixel shift warps back exactly; pixels that come from outside are marked
    img = frames[:1]
    back, inside = warp(jnp.asarray(img), jnp.full((1, 64, 80, 2), jnp.array([-2.0, 0.0])))  # p reads x − 2
    np.testing.assert_allclose(np.asarray(back)[:, :, 2:], img[:, :, :-2], atol=1e-6)
    assert np.asarray(inside)[0, :, :2].sum() == 0 and np.asarray(inside)[0, :, 2:].all()
    # the exact flow explains the input's motion far better than no motion
    own = float(warping_error(frames, frames, flow))
    still = float(warping_error(frames, frames, np.zeros_like(flow)))
    assert own < 0.3 * still and own < 2e-3
    # flicker (independent noise per frame) raises it; a constant output has none
    noisy = np.clip(frames + np.random.default_rng(0).normal(0, 0.05, frames.shape), 0, 1)
    assert float(warping_error(frames, noisy, flow)) > own + 1e-3
    assert float(warping_error(frames, np.full_like(frames, 0.5), flow)) < 1e-10
    with pytest.raises(ValueError, match="flow"):
        warping_error(frames, frames, flow[:-1])


def test_estimate_flow_recovers_the_clips_motion(clip):
    frames, flow = clip
    est = np.asarray(estimate_flow(frames[:-1], frames[1:]))
    err = np.linalg.norm(est - flow, axis=-1)[:, 6:-6, 6:-6]
    speed = np.linalg.norm(flow, axis=-1).mean()
    assert speed > 0.8 and np.median(err) < 0.2 * speed, (np.median(err), speed)


def test_video_files_round_trip_atomically(tmp_path, clip):
    frames, _ = clip
    path = tmp_path / "c.mp4"
    with VideoWriter(path, fractions.Fraction(30000, 1001), (64, 80)) as w:
        for f in frames:
            w.write(f)
    info, it = read_video(path)
    got = list(it)
    assert (info.fps, info.width, info.height, len(got)) == (fractions.Fraction(30000, 1001), 80, 64, 16)
    assert np.abs(got[5] - frames[5]).mean() < 0.03  # H.264 at crf 18
    with pytest.raises(VideoError, match="already exists"):
        VideoWriter(path, 25, (64, 80))
    with pytest.raises(RuntimeError):  # a failed write leaves nothing behind
        with VideoWriter(tmp_path / "d.mkv", 25, (63, 79)) as w:
            w.write(frames[0][:63, :79])
            raise RuntimeError
    assert sorted(p.name for p in tmp_path.iterdir()) == ["c.mp4"]
    (tmp_path / "bad.mp4").write_bytes(b"\x00\x00\x00\x18ftypmp42" + b"junk" * 100)
    with pytest.raises(VideoError, match=r"bad\.mp4: cannot open as a video"):
        read_video(tmp_path / "bad.mp4")


@pytest.mark.parametrize("method", ["adain", "lst", "adaattn", "style_kernel", "gnn"])
def test_video_mode_flickers_less_than_per_frame(method, clip, style_images):
    """Acceptance: on the synthetic clip, every method's video mode has a lower warping error than per-frame
    stylization, with the style side prepared once."""
    frames, flow = clip
    frames, flow = frames[:8], flow[:7]
    s = jaxstyle.Stylizer(method, bucket=16, devices=jax.devices()[:1])  # one frame per program, no padding
    key = s.add_style(style_images[1][:64, :64])
    per_frame = np.stack([s(f, key) for f in frames])
    encodes = s.counts["style_encodes"]
    v = s.video(key)
    video = np.stack([v(f) for f in frames])
    assert s.counts["style_encodes"] == encodes  # the style side once
    e_frame, e_video = (float(warping_error(frames, o, flow)) for o in (per_frame, video))
    assert e_video < 0.6 * e_frame, (e_video, e_frame)
    assert np.abs(video[0] - per_frame[0]).max() < 1e-5  # the first frame is the per-frame result
    assert np.abs(video - per_frame).mean() < 0.08  # the same stylization, steadied (blend 0.5 of a warped frame)


def _write_clip(path: pathlib.Path, frames: np.ndarray, fps) -> None:
    with VideoWriter(path, fps, frames.shape[1:3]) as w:
        for f in frames:
            w.write(f)


def test_infer_py_round_trips_a_16_frame_clip(tmp_path, clip, style_images):
    frames, _ = clip
    _write_clip(tmp_path / "clip.mp4", frames, fractions.Fraction(24))
    (tmp_path / "broken.mp4").write_bytes(b"not a video at all" * 50)
    save_image(tmp_path / "s.png", style_images[0][:64, :64])
    save_image(tmp_path / "photo.png", frames[0])
    out = tmp_path / "out"
    cmd = [sys.executable, str(REPO / "infer.py"), "--content", f"{tmp_path / 'clip.mp4'},{tmp_path / 'broken.mp4'},"
           f"{tmp_path / 'photo.png'}", "--style", str(tmp_path / "s.png"), "--out", str(out), "--method", "adain",
           "--max_side", "48"]
    r = subprocess.run(cmd, capture_output=True, text=True, cwd=tmp_path)
    assert r.returncode == 1, r.stderr  # the broken video failed, the others were written
    errors = [line for line in r.stderr.splitlines() if line.startswith("error:")]
    assert len(errors) == 1 and "broken.mp4" in errors[0] and "Traceback" not in r.stderr, r.stderr
    assert "16 frames at 24 fps" in r.stderr and "frames/s" in r.stderr
    assert sorted(p.name for p in out.iterdir()) == ["clip__s.mp4", "photo__s.png"]
    info, it = read_video(out / "clip__s.mp4")
    got = list(it)
    # frame count, size and frame rate kept (stylized at 48 px on the long side, scaled back)
    assert (info.fps, info.width, info.height, len(got)) == (24, 80, 64, 16)
    assert np.abs(got[3] - frames[3]).mean() > 0.05  # stylized, not copied
    before = (out / "clip__s.mp4").read_bytes()
    r = subprocess.run(cmd[:3] + [str(tmp_path / "clip.mp4"), "--style", str(tmp_path / "s.png"), "--out", str(out), "--method", "adain"],
                       capture_output=True, text=True, cwd=tmp_path)
    assert r.returncode == 0 and "0 written, 1 skipped" in r.stderr, r.stderr
    assert (out / "clip__s.mp4").read_bytes() == before
