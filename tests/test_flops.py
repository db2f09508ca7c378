"""``benchmarks/flops.py`` (the jaxpr FLOP count behind the README's GFLOP/s and "% of the ceiling" figures) on
cases with a known answer, the analytic VGG count of ``benchmarks/vgg_forward.py`` against it, and the percentage
arithmetic of ``benchmarks/compare.py``'s table. No timing: only traced jaxprs and given numbers.

``benchmarks/`` is not a package, so its files are imported from their paths.
"""

import importlib.util
import pathlib

import jax
import jax.numpy as jnp
import numpy as np
import pytest

BENCH = pathlib.Path(__file__).resolve().parents[1] / "benchmarks"


def _load(name):
    spec = importlib.util.spec_from_file_location(f"_bench_{name}", BENCH / f"{name}.py")
    module = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(module)
    return module


flops = _load("flops")


def _zeros(*shape):
    return jnp.zeros(shape, jnp.float32)


def test_matmul_and_batched_einsum_count_two_flops_per_multiply_add():
    """``(m×k) @ (k×n)``: ``2·m·n·k``; ``einsum('bij,bjk->bik')``: ``2·b·m·n·k``; element-wise work: 0. Exact."""
    m, k, n, b = 3, 5, 7, 4
    assert flops.dense_flops(lambda x, y: x @ y, _zeros(m, k), _zeros(k, n)) == 2 * m * n * k
    assert flops.dense_flops(lambda x, y: jnp.einsum("bij,bjk->bik", x, y), _zeros(b, m, k), _zeros(b, k, n)) \
        == 2 * b * m * n * k
    assert flops.dense_flops(lambda x: jnp.exp(x) * 2 + x, _zeros(b, m, k)) == 0
    # a matrix-vector product contracts k: 2·m·k
    assert flops.dense_flops(lambda x, v: x @ v, _zeros(m, k), _zeros(k)) == 2 * m * k


@pytest.mark.parametrize("layout", ["NHWC", "NCHW"])
def test_conv_counts_two_hout_wout_kh_kw_cin_cout_batch(layout):
    """A single conv: ``2·H_out·W_out·K_h·K_w·C_in·C_out·B`` in either layout (C_in ≠ C_out, K_h ≠ K_w, stride 2
    on H, VALID padding, so every factor is distinct); a grouped conv divides C_in by the groups. Exact."""
    bsz, h, w, cin, cout, kh, kw = 2, 11, 9, 6, 10, 3, 2  # groups: 2
    hout, wout = (h - kh) // 2 + 1, w - kw + 1
    if layout == "NHWC":
        dn, x, k = ("NHWC", "HWIO", "NHWC"), _zeros(bsz, h, w, cin), _zeros(kh, kw, cin, cout)
        kg = _zeros(kh, kw, cin // 2, cout)
    else:
        dn, x, k = ("NCHW", "OIHW", "NCHW"), _zeros(bsz, cin, h, w), _zeros(cout, cin, kh, kw)
        kg = _zeros(cout, cin // 2, kh, kw)

    def conv(x, k, groups=1):
        return jax.lax.conv_general_dilated(x, k, (2, 1), "VALID", dimension_numbers=dn,
                                            feature_group_count=groups)

    want = 2 * hout * wout * kh * kw * cin * cout * bsz
    assert flops.dense_flops(conv, x, k) == want
    assert flops.dense_flops(lambda x, k: conv(x, k, 2), x, kg) == want // 2


def test_loops_count_their_body_times_the_trip_count():
    """``lax.map`` over 5 blocks and a static ``fori_loop`` of 3 (both scans): the body's ``2·m·n·k`` times the
    trips; a ``cond`` counts its dearest branch; a ``while_loop`` (trip count unknown) its body once, as the
    module documents; nested ``jit`` is looked into. Exact."""
    m, k, n = 4, 6, 3
    one = 2 * m * n * k
    w = _zeros(k, n)
    assert flops.dense_flops(lambda xs: jax.lax.map(lambda x: x @ w, xs), _zeros(5, m, k)) == 5 * one

    def fori(x):
        return jax.lax.fori_loop(0, 3, lambda i, acc: acc + x @ w, jnp.zeros((m, n)))

    assert flops.dense_flops(fori, _zeros(m, k)) == 3 * one

    def cond(p, x):
        return jax.lax.cond(p, lambda x: (x @ w) @ _zeros(n, n), lambda x: x @ w, x)

    assert flops.dense_flops(cond, True, _zeros(m, k)) == one + 2 * m * n * n

    def loop(x):
        return jax.lax.while_loop(lambda c: c[0] < 10, lambda c: (c[0] + 1, c[1] + x @ w), (0, jnp.zeros((m, n))))

    assert flops.dense_flops(loop, _zeros(m, k)) == one
    assert flops.dense_flops(jax.jit(lambda x: jax.jit(lambda y: y @ w)(x) @ _zeros(n, n)), _zeros(m, k)) \
        == one + 2 * m * n * n


def test_small_composite_sums_its_convs_and_matmuls():
    """A conv (SAME, 3×3, 4→8 on 2×8×8) → relu → mean-pool → dense 8→5 → attention-like ``q kᵀ`` and ``A v``
    inside a ``lax.map`` of 2 blocks: the sum of each term's formula. Exact."""
    k1, wd = _zeros(3, 3, 4, 8), _zeros(8, 5)
    kv = _zeros(10, 5)

    def f(x):
        y = jax.lax.conv_general_dilated(x, k1, (1, 1), "SAME", dimension_numbers=("NHWC", "HWIO", "NHWC"))
        z = jax.nn.relu(y).mean(axis=(1, 2)) @ wd                       # [2, 5]
        q = jnp.broadcast_to(z[:, None], (2, 6, 5))                      # 2 blocks of 6 queries

        def attn(qb):                                                    # [6, 5] × [10, 5] keys/values
            a = jax.nn.softmax(qb @ kv.T, axis=-1)
            return a @ kv
        return jax.lax.map(attn, q)

    want = 2 * 8 * 8 * 9 * 4 * 8 * 2 + 2 * 2 * 5 * 8 + 2 * (2 * 6 * 10 * 5 + 2 * 6 * 5 * 10)
    assert flops.dense_flops(f, _zeros(2, 8, 8, 4)) == want


def test_vgg_analytic_count_equals_the_jaxpr_count(vgg_path):
    """The jaxpr walk over the real zero-padded VGG-19 forward to relu4_1 (traced only, 32×48 px, batch 2) equals
    ``vgg_forward.conv_flops`` (``Σ 2·H·W·9·C_in·C_out`` per 3×3 conv) plus the input's 3×3 colour matrix
    (``2·H·W·B·3·3``). Exact. (With reflection padding the CPU path adds the frame-correction convs, which the
    analytic count leaves out.)"""
    from jaxstyle.nn.vgg import load_vgg19

    vgg = load_vgg19(vgg_path, padding="zeros")
    vgg_forward = _load("vgg_forward")
    x = _zeros(2, 32, 48, 3)
    counted = flops.dense_flops(lambda x: vgg(x, ("relu4_1",))["relu4_1"], x)
    assert counted == vgg_forward.conv_flops(vgg, "relu4_1", 32, 48, 2) + 2 * 32 * 48 * 2 * 3 * 3
    # by hand: relu1_1 alone is one 3→64 conv at full size
    assert vgg_forward.conv_flops(vgg, "relu1_1", 32, 48, 2) == 2 * 32 * 48 * 9 * 3 * 64 * 2


def test_compare_table_reports_gflops_and_percent_of_ceiling():
    """``GFLOP/s = FLOPs / 1e9 / median s`` and ``% = 100 · GFLOP/s / ceiling`` in ``compare.table``'s jaxstyle
    column: 30 GFLOP in 0.25 s against a 200 GFLOP/s ceiling is 120 GFLOP/s, 60%; PyTorch's column uses its faster
    layout (36 GFLOP in 0.3 s → 120). Exact strings."""
    compare = _load("compare")
    rows = [{"method": "adain", "size": 512, "style": 512,
             "jax": {"flops": 30e9, "median_s": 0.25, "peak_gb": 1.0, "faults": 2000},
             "torch": {"flops": 36e9, "nchw": 0.4, "channels_last": 0.3, "peak_gb": 2.0, "nchw_faults": 1000,
                       "channels_last_faults": 3000}},
            {"method": "gnn", "size": 256, "style": 256,
             "jax": {"flops": 5e9, "median_s": 0.1, "peak_gb": 0.5, "faults": 1000}}]
    lines = compare.table(rows, ceiling=200.0)
    cells = [[c.strip() for c in line.strip("|").split("|")] for line in lines[2:]]
    assert cells[0][7] == "120 (60%)" and cells[0][8] == "120" and cells[0][6] == "30.0 / 36.0"
    assert cells[0][4] == "**0.83**" and cells[0][9] == "2 / 3"  # 0.25 / 0.3; channels_last's faults
    assert cells[1][7] == "50 (25%)" and cells[1][3] == "no official code"
    np.testing.assert_equal(len(cells[0]), len(lines[0].strip("|").split("|")))


def test_flops_are_split_by_the_operands_dtype():
    def f(a, b):
        return (a.astype(jnp.bfloat16) @ b.astype(jnp.bfloat16)).astype(jnp.float32) + a @ b

    a, b = _zeros(8, 16), _zeros(16, 4)
    assert flops.flops_by_dtype(f, a, b) == {"bfloat16": 2 * 8 * 16 * 4, "float32": 2 * 8 * 16 * 4}
    assert flops.dense_flops(f, a, b) == 4 * 8 * 16 * 4
