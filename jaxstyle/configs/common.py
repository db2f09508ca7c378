"""Defaults shared by every method: seed, data, optimiser, training loop, checkpoints, logging, devices.

The folder source has no default folders: set ``data.content_dirs`` and ``data.style_dirs``
(``--config.data.content_dirs="('photos',)"``); ``paper`` reads TFDS datasets instead.

Variants (``--config <method>:<variant>``):
  tiny   CI / tests: 32 px crops, a few steps, seconds on 2 CPU cores.
  cpu    a reduced schedule that trains a usable model on 2 CPU cores from a few hundred photos and paintings.
  paper  COCO + WikiArt (TFDS sources), 512 → random 256 crops, batch 8, Adam 1e-4 with inverse decay, 160k steps.
  gpu    the paper's data and crops on a GPU host: global batch 32 (e.g. 4 per GPU on 8 GPUs), bfloat16 compute,
         8 loader processes, 2 batches prefetched to the devices, and the paper's 1.28M pairs in 40k steps.
  tpu    the same on a TPU slice: global batch 64, bfloat16, 16 loader processes, 20k steps.
"""

from __future__ import annotations

import ml_collections

VARIANTS = ("", "tiny", "cpu", "paper", "gpu", "tpu")
#: Variants that train the paper's recipe (``gpu`` / ``tpu``: at the accelerator's batch, see :func:`for_hardware`).
PAPER_LIKE = ("paper", "gpu", "tpu")
#: The accelerator variants' global batch, loader processes and batches prefetched to the devices.
HARDWARE = {"gpu": dict(batch_size=32, workers=8, prefetch=2), "tpu": dict(batch_size=64, workers=16, prefetch=2)}


def get_config() -> ml_collections.ConfigDict:
    c = ml_collections.ConfigDict()
    c.method = ""
    c.seed = 0
    c.model = ml_collections.ConfigDict()  # filled from the method's default_config()

    c.data = ml_collections.ConfigDict(dict(
        source="folders",             # "folders" (image dirs) | "tfds" (ArrayRecord data prepared by jaxstyle.data.tfds_source)
        content_dirs=(),              # folders source (required): photo folders, searched recursively for images
        style_dirs=(),                # folders source (required): painting folders
        tfds_content="coco_images",   # tfds source: dataset names and split
        tfds_style="wikiart_images",
        tfds_split="train",
        tfds_data_dir="",             # "" = TFDS default (~/tensorflow_datasets)
        resize_to=512,                # shorter side resized to this (PIL, antialiased) before the crop; 0 = keep
        crop_size=256,                # random square crop (content and style)
        flip=True,                    # random horizontal flips
        batch_size=8,                 # global batch (split over all devices of all processes)
        workers=0,                    # grain worker processes (0 = load in the main process)
        prefetch=2,                   # batches loaded and put on the devices ahead of the step, in a thread (0 = off)
        max_image_pixels=300_000_000,  # decompression-bomb limit for training data (WikiArt has huge scans)
    ))
    c.optim = ml_collections.ConfigDict(dict(
        name="adam",                  # "adam" | "adamw"
        lr=1e-4,
        lr_decay=5e-5,                # inverse decay: lr / (1 + lr_decay * step), as in the AdaIN reference
        warmup_steps=0,
        b1=0.9,
        b2=0.999,
        weight_decay=0.0,             # adamw only
        grad_clip=0.0,                # global-norm clip; 0 = off
    ))
    c.train = ml_collections.ConfigDict(dict(
        num_steps=160_000,
        init_from="",                 # workdir, exported .npz or shipped model: every parameter whose name and shape
                                      # match, applied before init_decoder_from (e.g. LST's transform + AdaIN's decoder)
        init_decoder_from="",         # workdir, exported .npz or shipped model (its method name) warm-starting the decoder
        init_scope="decoder",         # "decoder" | "matching": also every other parameter with the same name and shape
    ))
    c.ckpt = ml_collections.ConfigDict(dict(
        every_steps=1000,
        keep=3,
        async_save=True,
    ))
    c.log = ml_collections.ConfigDict(dict(
        every_steps=50,               # scalars to metrics.jsonl + TensorBoard
        image_every_steps=1000,       # content | style | output grid PNG
        image_count=4,                # rows in the grid
        progress=True,                # progress bar on stderr
    ))
    c.mesh = ml_collections.ConfigDict(dict(
        num_devices=0,                # 0 = all devices
        distributed=False,            # multi-host: jax.distributed.initialize() before anything else (train only)
        coordinator_address="",       # distributed: "host:port" of process 0; "" = auto-detect (TPU pods, SLURM, MPI)
        num_processes=0,              # distributed: 0 = auto-detect
        process_id=-1,                # distributed: this process's index; -1 = auto-detect
        cpu_collectives="gloo",       # distributed CPU backends: cross-process collectives ("gloo" | "mpi")
    ))
    return c


def method_config(method: str, model: ml_collections.ConfigDict, variant: str) -> ml_collections.ConfigDict:
    """The shared defaults with ``method``'s model config and ``variant``'s data/schedule settings applied."""
    c = get_config()
    c.method = method
    c.model = model
    # "float32" | "bfloat16": activations and matmuls (jaxstyle.nn.precision); parameters, optimiser and losses
    # stay float32
    c.model.compute_dtype = "float32"
    return apply_variant(c, variant)


def apply_variant(c: ml_collections.ConfigDict, variant: str) -> ml_collections.ConfigDict:
    """Data/schedule settings common to every method's variant; methods adjust their model on top."""
    if variant not in VARIANTS:
        raise ValueError(f"unknown config variant {variant!r}; choose one of {', '.join(v for v in VARIANTS if v)}")
    if variant == "tiny":
        c.data.update(resize_to=48, crop_size=32, batch_size=4, flip=True)
        c.optim.update(lr=1e-4)
        c.train.num_steps = 4
        c.ckpt.update(every_steps=2, keep=2)
        c.log.update(every_steps=1, image_every_steps=2, image_count=2, progress=False)
    elif variant == "cpu":
        # ~2.8 s per AdaIN step on 2 idle cores (1.9 s without the identity loss): a few thousand steps, so a
        # higher learning rate than the paper's.
        c.data.update(resize_to=256, crop_size=128, batch_size=4)
        c.optim.update(lr=5e-4, lr_decay=2e-4)
        c.ckpt.update(every_steps=250, keep=3)
        c.log.update(every_steps=25, image_every_steps=500)
    elif variant in PAPER_LIKE:
        c.data.update(source="tfds", resize_to=512, crop_size=256, batch_size=8)
        c.optim.update(lr=1e-4, lr_decay=5e-5)
        c.train.num_steps = 160_000
    return c


def for_hardware(c: ml_collections.ConfigDict, variant: str) -> ml_collections.ConfigDict:
    """The last step of every method's ``get_config``: ``gpu`` / ``tpu`` turn the paper recipe into the
    accelerator's — its global batch, loader processes and device prefetch, bfloat16 compute, and the same
    content-style pairs in ``batch / 8`` times fewer steps (learning rate × sqrt(batch / 8), its inverse decay per
    step × batch / 8, checkpoints as often in images). Other variants are returned unchanged."""
    if variant not in HARDWARE:
        return c
    hw = HARDWARE[variant]
    k = hw["batch_size"] / c.data.batch_size
    c.data.update(hw)
    c.optim.update(lr=c.optim.lr * k ** 0.5, lr_decay=c.optim.lr_decay * k)
    c.train.num_steps = int(c.train.num_steps / k)
    c.ckpt.every_steps = max(1, int(c.ckpt.every_steps / k))
    c.model.compute_dtype = "bfloat16"
    return c
