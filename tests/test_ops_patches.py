"""ops.patches: feat2patch (position-major node vectors) and patch2feat (overlap-averaging fold), spec §3.1, §6, §14."""

import itertools

import jax
import jax.numpy as jnp
import numpy as np
import pytest

from jaxstyle.ops.patches import check_patch_grid, feat2patch, patch2feat

# XLA:CPU compile time dominates these tiny shapes (eager dispatch would compile each of the p² slices on its own):
# one jit per configuration, with the quick compile settings (-O0, no MLIR fusion emitters; same computation).
QUICK = {"xla_backend_optimization_level": 0, "xla_cpu_use_fusion_emitters": False} \
    if jax.default_backend() == "cpu" else None
F2P = jax.jit(feat2patch, static_argnames=("patch_size", "stride", "dilation", "padding"), compiler_options=QUICK)
P2F = jax.jit(patch2feat, static_argnames=("hw", "patch_size", "stride", "dilation"), compiler_options=QUICK)


def ref_patches(x: np.ndarray, p: int, *, stride: int = 1, dilation: int = 1) -> np.ndarray:
    """NumPy reference: reflect-pad by ⌊p/2⌋·dilation, node (y, x) on the strided grid, taps ``dilation`` apart,
    flattened position-major (tap ``dy·p + dx`` first, then channels) → ``[B, N, p²·C]``."""
    b, h, w, c = x.shape
    r = (p // 2) * dilation
    xp = np.pad(x, ((0, 0), (r, r), (r, r), (0, 0)), mode="reflect")
    out = []
    for y in range(0, h, stride):
        for xx in range(0, w, stride):
            # padded coordinates of tap (dy, dx) of the window centred at (y, xx): (y + dy·d, xx + dx·d)
            win = np.stack([xp[:, y + dy * dilation, xx + dx * dilation]
                            for dy in range(p) for dx in range(p)], axis=1)  # [B, p², C]
            out.append(win.reshape(b, -1))
    return np.stack(out, axis=1)


def ref_fold(z: np.ndarray, hw, p: int, *, stride: int = 1, dilation: int = 1) -> np.ndarray:
    """NumPy reference of patch2feat: each location is the mean of the node taps that land on it (no folding back
    through the reflection: taps that land on the padding are dropped)."""
    b, n, d = z.shape
    h, w = hw
    c = d // (p * p)
    z = z.reshape(b, n, p * p, c)
    r = p // 2
    acc = np.zeros((b, h, w, c))
    cnt = np.zeros((h, w))
    ys, xs = range(0, h, stride), range(0, w, stride)
    for i, (y, x) in enumerate(itertools.product(ys, xs)):
        for dy in range(p):
            for dx in range(p):
                u, v = y + (dy - r) * dilation, x + (dx - r) * dilation
                if 0 <= u < h and 0 <= v < w:
                    acc[:, u, v] += z[:, i, dy * p + dx]
                    cnt[u, v] += 1
    return acc / np.maximum(cnt, 1)[None, :, :, None]


def _x(shape, seed=0):
    return np.random.default_rng(seed).normal(size=shape).astype(np.float32)


FITS = [(p, d) for p in (1, 3, 5) for d in (1, 2, 3) if not (p == 1 and d > 1)]


CASES = [((7, 9), p, d) for p, d in FITS] + [((8, 7), 3, 1), ((8, 7), 3, 2)]


@pytest.mark.parametrize("hw,p,dilation", CASES)
def test_node_vectors_and_roundtrip(hw, p, dilation):
    h, w = hw
    x = _x((2, h, w, 3), seed=p * 10 + dilation)
    nodes = F2P(jnp.asarray(x), p, dilation=dilation)
    assert nodes.shape == (2, h * w, 3 * p * p)
    got = np.asarray(nodes)
    # node i = explicit reflect-padded window centred at (i // w, i % w), taps σ apart, position-major
    np.testing.assert_array_equal(got, ref_patches(x, p, dilation=dilation))
    r = (p // 2) * dilation
    i = (h // 2) * w + w // 2  # an interior node, sliced by hand without padding
    y0, x0 = divmod(i, w)
    if r <= min(y0, x0, h - 1 - y0, w - 1 - x0):
        win = x[1, y0 - r:y0 + r + 1:dilation, x0 - r:x0 + r + 1:dilation]  # [p, p, C]
        np.testing.assert_array_equal(got[1, i], win.reshape(-1))
    # Patch2Feat(Feat2Patch(x)) == x
    back = P2F(nodes, hw, p, dilation=dilation)
    assert back.shape == x.shape
    np.testing.assert_allclose(np.asarray(back), x, atol=1e-6, rtol=1e-6)


@pytest.mark.parametrize("hw", [(7, 9), (6, 8), (5, 5)])
@pytest.mark.parametrize("p,dilation", [(1, 1), (3, 1), (3, 2), (5, 1)])
def test_stride_two_nodes_at_even_locations(hw, p, dilation):
    h, w = hw
    if (p // 2) * dilation >= min(h, w):
        pytest.skip("does not fit")
    x = _x((2, h, w, 4), seed=2)
    got = np.asarray(F2P(jnp.asarray(x), p, stride=2, dilation=dilation))
    n = -(-h // 2) * -(-w // 2)
    assert got.shape == (2, n, 4 * p * p)
    np.testing.assert_array_equal(got, ref_patches(x, p, stride=2, dilation=dilation))
    # node i of the stride-2 grid is the stride-1 node at (2·(i // w'), 2·(i % w'))
    full = ref_patches(x, p, dilation=dilation)
    wn = -(-w // 2)
    ids = [(2 * (i // wn)) * w + 2 * (i % wn) for i in range(n)]
    np.testing.assert_array_equal(got, full[:, ids])
    # fold at stride 2 averages only the windows that exist
    z = _x((2, n, 4 * p * p), seed=3)
    np.testing.assert_allclose(np.asarray(P2F(jnp.asarray(z), hw, p, stride=2, dilation=dilation)),
                               ref_fold(z.astype(np.float64), hw, p, stride=2, dilation=dilation), atol=1e-5)


def test_patch2feat_averages_constant_nodes_explicit_loops():
    """4x5 map, p=3: node i carries a constant vector v_i at all 9 taps; location u must get the mean of v_i over the
    nodes whose window covers u (3x3 neighbourhood clipped to the grid)."""
    h, w, p, c = 4, 5, 3, 2
    rng = np.random.default_rng(4)
    v = rng.normal(size=(1, h * w, c))
    z = np.repeat(v[:, :, None, :], p * p, axis=2).reshape(1, h * w, p * p * c)
    got = np.asarray(P2F(jnp.asarray(z, jnp.float32), (h, w), p))[0]
    ref = np.zeros((h, w, c))
    for uy in range(h):
        for ux in range(w):
            cover = [v[0, iy * w + ix] for iy in range(h) for ix in range(w) if abs(iy - uy) <= 1 and abs(ix - ux) <= 1]
            ref[uy, ux] = np.mean(cover, axis=0)
    np.testing.assert_allclose(got, ref, atol=1e-6)
    # the corner is covered by 4 windows, an edge by 6, the interior by 9
    ids = np.broadcast_to(np.arange(h * w, dtype=np.float32)[None, :, None], (1, h * w, p * p))
    covers = np.asarray(P2F(jnp.asarray(ids), (h, w), p))[0, :, :, 0]
    np.testing.assert_allclose(covers[0, 0], np.mean([0, 1, 5, 6]), atol=1e-6)  # corner: 4 windows
    np.testing.assert_allclose(covers[0, 2], np.mean([1, 2, 3, 6, 7, 8]), atol=1e-6)  # edge: 6 windows
    np.testing.assert_allclose(covers[1, 1], np.mean([0, 1, 2, 5, 6, 7, 10, 11, 12]), atol=1e-6)  # interior: 9


@pytest.mark.parametrize("p,dilation", [(3, 1), (3, 2), (5, 1)])
def test_patch2feat_general_vectors(p, dilation):
    """Non-constant node vectors: each tap lands at centre + (tap − r)·dilation; the fold is the per-location mean."""
    hw = (6, 7)
    z = _x((2, 42, 3 * p * p), seed=5)
    got = np.asarray(P2F(jnp.asarray(z), hw, p, dilation=dilation))
    np.testing.assert_allclose(got, ref_fold(z.astype(np.float64), hw, p, dilation=dilation), atol=1e-5)


def test_errors_name_the_value():
    def f2p(x, *a, **kw):  # under jit the validation raises while tracing, before anything is compiled
        return jax.jit(lambda x: feat2patch(x, *a, **kw))(x)

    x = jnp.zeros((1, 6, 6, 2))
    with pytest.raises(ValueError, match="patch_size=2"):
        f2p(x, 2)
    with pytest.raises(ValueError, match="patch_size=0"):
        f2p(x, 0)
    with pytest.raises(ValueError, match=r"3x4.*patch_size=5"):  # patch larger than the map
        f2p(jnp.zeros((1, 3, 4, 2)), 5)
    with pytest.raises(ValueError, match=r"4x6.*patch_size=3 with dilation=4.*at least 5"):  # reflect pad 4 >= 4
        f2p(jnp.zeros((1, 4, 6, 2)), 3, dilation=4)
    check_patch_grid((5, 6), 3, 4)  # pad 4 < 5: fits
    with pytest.raises(ValueError, match="dilation=0"):
        f2p(x, 3, dilation=0)
    with pytest.raises(ValueError, match="'wrap'"):
        f2p(x, 3, padding="wrap")
    with pytest.raises(ValueError, match="patch2feat: 35 patches"):
        jax.jit(lambda z: patch2feat(z, (6, 6), 3))(jnp.zeros((1, 35, 18)))
