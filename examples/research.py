"""Research-style use of jaxstyle's functional API: ``jit``, ``vmap`` and ``grad`` through a shipped model.

    python examples/research.py --content photo.jpg --style painting.jpg --size 256 --steps 20

1. ``jax.jit(apply)`` stylizes; ``jax.vmap`` sweeps the content-style trade-off ``alpha`` in one program.
2. ``jax.grad`` of the output's content + style distance (the evaluation protocol's, a frozen VGG-19) w.r.t. the
   photo's pixels: a saliency map of where the photo pulls the objective most.
3. The same gradient w.r.t. the model's parameters (one jitted step computes both): a few optax Adam steps
   fine-tune the shipped model to this one style (a per-style model), lowering its style distance.

Without --content / --style it uses scikit-image's astronaut and Hubble deep-field images.
"""

from __future__ import annotations

import argparse
import pathlib
import sys
import tempfile

import jax
import jax.numpy as jnp
import numpy as np
import optax
from flax import nnx

import jaxstyle
from jaxstyle import evaluation


def sample_images(content: str | None, style: str | None, size: int) -> tuple[np.ndarray, np.ndarray]:
    """``([1, H, W, 3], [1, Hs, Ws, 3])`` float32 in [0, 1], sides multiples of 8 (as the functional API needs)."""
    if not content or not style:
        import skimage.data  # sample images only

        tmp = pathlib.Path(tempfile.mkdtemp())
        content = content or jaxstyle.save_image(tmp / "astronaut.png", skimage.data.astronaut() / 255.0)
        style = style or jaxstyle.save_image(tmp / "hubble.png", skimage.data.hubble_deep_field() / 255.0)

    def load(path):
        img = jaxstyle.load_image(path, max_side=size)
        h, w = img.shape[0] // 8 * 8, img.shape[1] // 8 * 8
        return img[None, :h, :w]

    return load(content), load(style)


def main(argv: list[str] | None = None) -> int:
    p = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    p.add_argument("--content", help="a photo (default: scikit-image's astronaut)")
    p.add_argument("--style", help="a painting (default: the Hubble deep field)")
    p.add_argument("--method", default="adain", help="a shipped model: adain, adaattn, gnn, lst, style_kernel")
    p.add_argument("--size", type=int, default=256, help="longer image side (px)")
    p.add_argument("--steps", type=int, default=20, help="gradient steps of parts 2 and 3")
    p.add_argument("--out", help="folder for the images (default: none written)")
    a = p.parse_args(argv)
    content, style = sample_images(a.content, a.style, a.size)

    model = jaxstyle.load_pretrained(a.method)
    apply, variables = jaxstyle.functional.split(model)
    vgg_graph, vgg_state = nnx.split(jaxstyle.load_vgg19())  # the evaluation protocol's frozen VGG-19

    # 1. jit and vmap: one program stylizes at three trade-offs
    stylize = jax.jit(apply)
    out = stylize(variables, content, style)
    sweep = jax.jit(jax.vmap(apply, in_axes=(None, None, None, 0)))(variables, content, style,
                                                                    jnp.array([0.25, 0.5, 1.0]))
    print(f"1. output {out.shape}, alpha sweep {sweep.shape}")

    # 2 and 3: one jitted step differentiates content + style distance w.r.t. the parameters and the photo. Every
    # array is an argument (closed-over arrays would be compile-time constants that XLA tries to fold).
    def objective(params, photo, frozen, painting, vgg_params):
        img = apply({"params": params, "frozen": frozen}, photo, painting)
        vgg = nnx.merge(vgg_graph, vgg_params)
        c = evaluation.content_distance(vgg, img, photo)
        s = evaluation.style_distance(vgg, img, painting)
        return c + s, (c, s)

    tx = optax.adam(1e-4)

    @jax.jit
    def train_step(params, opt, photo, frozen, painting, vgg_params):
        (_, (c, s)), (grads, pixels) = jax.value_and_grad(objective, argnums=(0, 1), has_aux=True)(
            params, photo, frozen, painting, vgg_params)
        updates, opt = tx.update(grads, opt, params)
        return optax.apply_updates(params, updates), opt, c, s, pixels

    params = variables["params"]
    opt = jax.jit(tx.init)(params)
    for step in range(a.steps + 1):  # (c, s) are measured before each update; the last call only measures
        new_params, new_opt, c, s, pixels = train_step(params, opt, content, variables["frozen"], style, vgg_state)
        if step == 0:
            c0, s0 = float(c), float(s)
            saliency = jnp.abs(pixels).sum(-1)[0]  # [H, W]: where the photo pulls the objective most
            top = jnp.sort(saliency.ravel())[::-1]
            share = float(top[: top.size // 10].sum() / top.sum())
            print(f"2. gradient w.r.t. the photo's pixels: {share:.0%} of it on the top 10% of pixels")
        if step < a.steps:
            params, opt = new_params, new_opt
    print(f"3. after {a.steps} Adam steps: style distance {s0:.3f} -> {float(s):.3f}, content distance "
          f"{c0:.3f} -> {float(c):.3f}")

    if a.out:
        out_dir = pathlib.Path(a.out)
        out_dir.mkdir(parents=True, exist_ok=True)
        tuned = stylize({"params": params, "frozen": variables["frozen"]}, content, style)
        heat = np.repeat(np.asarray(saliency / saliency.max())[..., None], 3, -1)
        for name, img in (("stylized", out[0]), ("saliency", heat), ("fine_tuned", tuned[0])):
            jaxstyle.save_image(out_dir / f"{name}.png", np.asarray(img), overwrite=True)
    return 0


if __name__ == "__main__":
    sys.exit(main())
