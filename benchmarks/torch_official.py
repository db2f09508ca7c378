"""PyTorch re-implementations of the official module layouts: AdaIN (naoto0804/pytorch-AdaIN), AdaAttN
(Huage001/AdaAttN) and LST (sunshineatnoon/LinearStyleTransfer).

Each is written after its repository's modules (the same ``state_dict`` keys and forward computation), gets random
He-scaled weights and is saved with ``torch.save`` as the official code saves it. ``tests/test_official_weights.py``
converts the files and checks jaxstyle's output against these forwards; ``benchmarks/compare.py`` times both on the
same weights. torch is a test/benchmark extra, never a jaxstyle dependency.

    official = build("adain", folder)   # official.forward(content_nchw, style_nchw) -> image_nchw
"""

from __future__ import annotations

import pathlib
from typing import Callable, NamedTuple

import numpy as np
import torch

nn = torch.nn
METHODS = ("adain", "adaattn", "lst_r41", "lst_r31")


class Official(NamedTuple):
    forward: Callable  # (content, style) -> image, NCHW float32 tensors
    files: list[pathlib.Path]  # the saved checkpoints, as the official release names them
    modules: list[nn.Module]  # every module the forward uses (e.g. to move them to channels_last)


VGG_WIDTHS = [(3, 64), (64, 64), (64, 128), (128, 128), (128, 256), (256, 256), (256, 256), (256, 256),
              (256, 512), (512, 512), (512, 512), (512, 512), (512, 512), (512, 512), (512, 512), (512, 512)]
POOL_BEFORE = (2, 4, 8, 12)  # conv indices (0-based among the 16) that follow a max-pool


def _he(module, seed):
    """Random weights that keep activations O(1) through deep ReLU stacks (the default init shrinks them)."""
    g = torch.Generator().manual_seed(seed)
    for m in module.modules():
        if isinstance(m, (nn.Conv2d, nn.Linear)):
            fan_in = m.weight[0].numel()
            m.weight.data = torch.randn(m.weight.shape, generator=g) * (2.0 / fan_in) ** 0.5
            m.bias.data = torch.randn(m.bias.shape, generator=g) * 0.05
    return module


def _vgg_normalised(ceil=True):
    """AdaIN's ``vgg_normalised`` nn.Sequential: 1x1 conv, then (reflect-pad, conv, ReLU) and ceil-mode pools."""
    layers = [nn.Conv2d(3, 3, 1)]
    for i, (a, b) in enumerate(VGG_WIDTHS):
        if i in POOL_BEFORE:
            layers.append(nn.MaxPool2d(2, 2, 0, ceil_mode=ceil))
        layers += [nn.ReflectionPad2d(1), nn.Conv2d(a, b, 3), nn.ReLU()]
    return nn.Sequential(*layers)


def _mirror_decoder(c_in=512, skip=0):
    """The AdaIN decoder nn.Sequential (reflect-pad, conv, ReLU; nearest ×2 after the 1st, 5th and 7th conv)."""
    pairs = [(c_in, 256), (256 + skip, 256), (256, 256), (256, 256), (256, 128), (128, 128), (128, 64), (64, 64),
             (64, 3)]
    layers = []
    for i, (a, b) in enumerate(pairs):
        layers += [nn.ReflectionPad2d(1), nn.Conv2d(a, b, 3)] + ([nn.ReLU()] if i < 8 else [])
        if i in (0, 4, 6):
            layers.append(nn.Upsample(scale_factor=2, mode="nearest"))
    return nn.Sequential(*layers)


def _stats(x, eps=1e-5):
    n, c = x.shape[:2]
    var = x.reshape(n, c, -1).var(dim=2) + eps
    return x.reshape(n, c, -1).mean(dim=2).reshape(n, c, 1, 1), var.sqrt().reshape(n, c, 1, 1)


def _mvn(x):
    m, s = _stats(x)
    return (x - m) / s


def nchw(x):
    return torch.from_numpy(np.ascontiguousarray(np.asarray(x).transpose(0, 3, 1, 2)))


# -- AdaIN ---------------------------------------------------------------------------------------------------------

def _adain(tmp_path):
    vgg, dec = _he(_vgg_normalised(), 1), _he(_mirror_decoder(), 2)
    torch.save(vgg.state_dict(), tmp_path / "vgg_normalised.pth")
    torch.save(dec.state_dict(), tmp_path / "decoder.pth")
    enc = vgg[:31]  # up to relu4_1

    def forward(c, s):
        fc, fs = enc(c), enc(s)
        (mc, sc), (ms, ss) = _stats(fc), _stats(fs)
        return dec((fc - mc) / sc * ss + ms)

    return Official(forward, [tmp_path / "vgg_normalised.pth", tmp_path / "decoder.pth"], [vgg, dec])


# -- AdaAttN -------------------------------------------------------------------------------------------------------

class _AttnBlock(nn.Module):
    def __init__(self, planes, key_planes, max_sample=256 * 256):
        super().__init__()
        self.f, self.g, self.h = nn.Conv2d(key_planes, key_planes, 1), nn.Conv2d(key_planes, key_planes, 1), \
            nn.Conv2d(planes, planes, 1)
        self.max_sample = max_sample

    def forward(self, content, style, ck, sk):
        q, k, v = self.f(ck), self.g(sk), self.h(style)
        b = q.shape[0]
        k = k.reshape(b, k.shape[1], -1)
        v = v.reshape(b, v.shape[1], -1).transpose(1, 2)
        if k.shape[2] > self.max_sample:  # the official random subset of style positions (a fixed seed)
            index = torch.randperm(k.shape[2], generator=torch.Generator().manual_seed(6666))[:self.max_sample]
            k, v = k[:, :, index], v[:, index]
        h, w = q.shape[2:]
        a = torch.softmax(torch.bmm(q.reshape(b, q.shape[1], -1).permute(0, 2, 1), k), dim=-1)
        mean = torch.bmm(a, v)
        std = torch.sqrt(torch.relu(torch.bmm(a, v ** 2) - mean ** 2))
        mean = mean.reshape(b, h, w, -1).permute(0, 3, 1, 2)
        std = std.reshape(b, h, w, -1).permute(0, 3, 1, 2)
        return std * _mvn(content) + mean


class _Transformer(nn.Module):
    def __init__(self):
        super().__init__()
        self.attn_adain_4_1 = _AttnBlock(512, 960)
        self.attn_adain_5_1 = _AttnBlock(512, 1472)
        self.upsample5_1 = nn.Upsample(scale_factor=2, mode="nearest")
        self.merge_conv_pad = nn.ReflectionPad2d(1)
        self.merge_conv = nn.Conv2d(512, 512, 3)

    def forward(self, c4, s4, c5, s5, ck4, sk4, ck5, sk5):
        return self.merge_conv(self.merge_conv_pad(self.attn_adain_4_1(c4, s4, ck4, sk4)
                                                   + self.upsample5_1(self.attn_adain_5_1(c5, s5, ck5, sk5))))


class _AdaAttNDecoder(nn.Module):
    def __init__(self):
        super().__init__()
        full = list(_mirror_decoder(skip=256).children())
        self.decoder_layer_1 = nn.Sequential(*full[:4])
        self.decoder_layer_2 = nn.Sequential(*full[4:])

    def forward(self, cs, skip):
        return self.decoder_layer_2(torch.cat((self.decoder_layer_1(cs), skip), dim=1))


def _adaattn(tmp_path, max_sample):
    vgg = _he(_vgg_normalised(), 3)
    a3, tr, dec = _he(_AttnBlock(256, 448, max_sample), 4), _he(_Transformer(), 5), _he(_AdaAttNDecoder(), 6)
    names = ["vgg_normalised.pth", "latest_net_adaattn_3.pth", "latest_net_transformer.pth", "latest_net_decoder.pth"]
    for net, name in zip((vgg, a3, tr, dec), names):
        torch.save(net.state_dict(), tmp_path / name)
    layers = list(vgg.children())
    stages = [nn.Sequential(*layers[a:b]) for a, b in ((0, 4), (4, 11), (11, 18), (18, 31), (31, 44))]

    def feats(x):
        out = [x]
        for st in stages:
            out.append(st(out[-1]))
        return out[1:]

    def key(f, i):
        h, w = f[i].shape[2:]
        return torch.cat([_mvn(nn.functional.interpolate(f[j], (h, w))) for j in range(i)] + [_mvn(f[i])], dim=1)

    def forward(c, s):
        fc, fs = feats(c), feats(s)
        skip = a3(fc[2], fs[2], key(fc, 2), key(fs, 2))
        t = tr(fc[3], fs[3], fc[4], fs[4], key(fc, 3), key(fs, 3), key(fc, 4), key(fs, 4))
        return dec(t, skip)

    return Official(forward, [tmp_path / n for n in names], [vgg, a3, tr, dec])


# -- LST -----------------------------------------------------------------------------------------------------------

class _LSTEncoder(nn.Module):
    """``encoderN``: ``conv1`` (1x1), then ``convK`` 3x3 after reflection padding, floor-mode pools."""

    def __init__(self, n_convs):
        super().__init__()
        self.conv1 = nn.Conv2d(3, 3, 1)
        for i, (a, b) in enumerate(VGG_WIDTHS[:n_convs]):
            setattr(self, f"conv{i + 2}", nn.Conv2d(a, b, 3))
        self.n = n_convs

    def forward(self, x):
        x = self.conv1(x)
        for i in range(self.n):
            if i in POOL_BEFORE:
                x = nn.functional.max_pool2d(x, 2, 2)
            x = torch.relu(getattr(self, f"conv{i + 2}")(nn.functional.pad(x, (1, 1, 1, 1), mode="reflect")))
        return x


class _LSTDecoder(nn.Module):
    """``decoder4`` (``conv11`` … ``conv19``) or ``decoder3`` (``conv7`` … ``conv11``)."""

    def __init__(self, variant):
        super().__init__()
        if variant == "r41":
            pairs, ups, first = [(512, 256), (256, 256), (256, 256), (256, 256), (256, 128), (128, 128), (128, 64),
                                 (64, 64), (64, 3)], (0, 4, 6), 11
        else:
            pairs, ups, first = [(256, 128), (128, 128), (128, 64), (64, 64), (64, 3)], (0, 2), 7
        for i, (a, b) in enumerate(pairs):
            setattr(self, f"conv{first + i}", nn.Conv2d(a, b, 3))
        self.names, self.ups = [f"conv{first + i}" for i in range(len(pairs))], ups

    def forward(self, x):
        for i, name in enumerate(self.names):
            x = getattr(self, name)(nn.functional.pad(x, (1, 1, 1, 1), mode="reflect"))
            if i < len(self.names) - 1:
                x = torch.relu(x)
            if i in self.ups:
                x = nn.functional.interpolate(x, scale_factor=2, mode="nearest")
        return x


class _CNN(nn.Module):
    def __init__(self, c):
        super().__init__()
        self.convs = nn.Sequential(nn.Conv2d(c, c // 2, 3, 1, 1), nn.ReLU(), nn.Conv2d(c // 2, c // 4, 3, 1, 1),
                                   nn.ReLU(), nn.Conv2d(c // 4, 32, 3, 1, 1))
        self.fc = nn.Linear(1024, 1024)

    def forward(self, x):
        o = self.convs(x)
        b, c, h, w = o.shape
        o = o.reshape(b, c, -1)
        return self.fc(torch.bmm(o, o.transpose(1, 2)).div(h * w).reshape(b, -1))


class _MulLayer(nn.Module):
    def __init__(self, c):
        super().__init__()
        self.snet, self.cnet = _CNN(c), _CNN(c)
        self.compress, self.unzip = nn.Conv2d(c, 32, 1), nn.Conv2d(32, c, 1)

    def forward(self, cf, sf):
        cm = cf.mean(dim=(2, 3), keepdim=True)
        sm = sf.mean(dim=(2, 3), keepdim=True)
        cf, sf = cf - cm, sf - sm
        t = torch.bmm(self.snet(sf).reshape(-1, 32, 32), self.cnet(cf).reshape(-1, 32, 32))
        z = self.compress(cf)
        b, c, h, w = z.shape
        return self.unzip(torch.bmm(t, z.reshape(b, c, -1)).reshape(b, c, h, w)) + sm


def _lst(tmp_path, variant):
    c, n = (512, 9) if variant == "r41" else (256, 5)
    enc, dec, mul = _he(_LSTEncoder(n), 7), _he(_LSTDecoder(variant), 8), _he(_MulLayer(c), 9)
    with torch.no_grad():  # keep the transformation O(1): the FC maps a covariance, not a feature
        mul.snet.fc.weight.mul_(0.05)
        mul.cnet.fc.weight.mul_(0.05)
    names = [f"vgg_{variant}.pth", f"dec_{variant}.pth", f"{variant}.pth"]
    for net, name in zip((enc, dec, mul), names):
        torch.save(net.state_dict(), tmp_path / name)
    return Official(lambda c_, s_: dec(mul(enc(c_), enc(s_))), [tmp_path / nm for nm in names], [enc, dec, mul])


def build(method: str, folder: pathlib.Path, *, max_sample: int = 64 * 64) -> Official:
    """The torch forward of ``method`` (one of :data:`METHODS`) with random weights, saved to ``folder`` for
    ``convert-official``. ``max_sample``: AdaAttN's relu3_1 cap on style positions (official: 64²; relu4_1/5_1
    use the official 256²); above it a seeded random subset, as the official code does."""
    folder = pathlib.Path(folder)
    folder.mkdir(parents=True, exist_ok=True)
    if method == "adain":
        return _adain(folder)
    if method == "adaattn":
        return _adaattn(folder, max_sample)
    if method in ("lst_r41", "lst_r31"):
        return _lst(folder, method[-3:])
    raise ValueError(f"unknown method {method!r}; choose one of {', '.join(METHODS)}")
