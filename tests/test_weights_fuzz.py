"""Fuzzing the weight readers: valid files (torch zip and legacy layouts, a VGG ``.npz``, a model export ``.npz``)
mutated many times with a fixed seed, byte-wise and structurally (every integer of a tensor record: offsets, sizes,
strides, storage sizes). Whatever the mutation, the reader either loads the file or refuses it with one line through
its user-facing error: never a crash (segfault), never a traceback, never another exception type.

The mutations run in a child process, so a segfault fails the test instead of killing pytest."""

import io
import json
import pathlib
import pickletools
import random
import struct
import subprocess
import sys
import zipfile

import numpy as np

from conftest import require_module

REPO = pathlib.Path(__file__).resolve().parents[1]
ROUNDS = 300  # per base file and mutation kind


# ------------------------------------------------------------------ mutations (pure bytes in, bytes out)

_INT_OPS = {"BININT1", "BININT2", "BININT", "LONG1"}


def _encode_int(v: int) -> bytes:
    if -2**31 <= v < 2**31:
        return b"J" + struct.pack("<i", v)
    n = (v.bit_length() + 8) // 8
    return b"\x8a" + bytes([n]) + v.to_bytes(n, "little", signed=True)


def mutate_pickle_ints(data: bytes, rng: random.Random) -> bytes:
    """One pickle with some of its pushed integers replaced by hostile values (negative, zero, huge, off by one)."""
    ops = list(pickletools.genops(data))
    ends = [pos for _, _, pos in ops[1:]] + [len(data)]
    ints = [i for i, (op, _, _) in enumerate(ops) if op.name in _INT_OPS]
    hit = set(rng.sample(ints, k=min(len(ints), rng.choice([1, 1, 2, 3])))) if ints else set()
    out = bytearray()
    for i, ((op, arg, pos), end) in enumerate(zip(ops, ends)):
        if i in hit:
            v = rng.choice([-1, -2, -(2**31), 0, 1, arg + 1, arg - 1, -arg, arg * 1000, 2**40, 2**62, 2**70,
                            rng.randint(-10**6, 10**6)])
            out += _encode_int(v)
        else:
            out += data[pos:end]
    return bytes(out)


def mutate_bytes(data: bytes, rng: random.Random) -> bytes:
    b = bytearray(data)
    kind = rng.randrange(4)
    if kind == 0:  # flip a few bytes
        for _ in range(rng.randint(1, 8)):
            b[rng.randrange(len(b))] ^= 1 << rng.randrange(8)
    elif kind == 1:  # cut short
        del b[rng.randrange(len(b)):]
    elif kind == 2:  # insert junk
        at = rng.randrange(len(b))
        b[at:at] = bytes(rng.randrange(256) for _ in range(rng.randint(1, 16)))
    else:  # zero a block
        at = rng.randrange(len(b))
        b[at:at + rng.randint(1, 64)] = bytes(min(64, len(b) - at))
    return bytes(b)


def mutate_torch_zip(data: bytes, rng: random.Random) -> bytes:
    """Rewrite ``data.pkl`` with hostile integers and re-zip (valid CRCs, so the unpickler sees the change)."""
    src = zipfile.ZipFile(io.BytesIO(data))
    buf = io.BytesIO()
    with zipfile.ZipFile(buf, "w", zipfile.ZIP_STORED) as dst:
        for info in src.infolist():
            raw = src.read(info)
            if info.filename.endswith("data.pkl"):
                raw = mutate_pickle_ints(raw, rng)
            dst.writestr(info.filename, raw)
    return buf.getvalue()


def mutate_torch_legacy(data: bytes, rng: random.Random) -> bytes:
    """Hostile integers in the object pickle (the 4th of the legacy stream) or in a storage's size header."""
    ends, pos = [], 0
    for _ in range(5):
        for op, _, p in pickletools.genops(io.BytesIO(data[pos:])):
            if op.name == "STOP":
                ends.append(pos + p + 1)
                break
        pos = ends[-1]
    if rng.random() < 0.8:
        obj = data[ends[2]:ends[3]]
        return data[:ends[2]] + mutate_pickle_ints(obj, rng) + data[ends[3]:]
    b = bytearray(data)  # the first storage's int64 size
    b[ends[4]:ends[4] + 8] = struct.pack("<q", rng.choice([-1, 0, 1, 2**40, -(2**62)]))
    return bytes(b)


def mutate_npz(data: bytes, rng: random.Random) -> bytes:
    """Rewrite an ``.npz`` with a member changed: a pickled object array, another dtype or shape, a key dropped or
    renamed, garbage metadata."""
    src = zipfile.ZipFile(io.BytesIO(data))
    names = src.namelist()
    victim = rng.choice(names)
    kind = rng.randrange(5)
    buf = io.BytesIO()
    with zipfile.ZipFile(buf, "w", zipfile.ZIP_DEFLATED) as dst:
        for name in names:
            raw = src.read(name)
            if name == victim:
                if kind == 0:
                    continue  # dropped
                if kind == 1:
                    name = "x" + name
                else:
                    arr = np.load(io.BytesIO(raw), allow_pickle=False)
                    if kind == 2:
                        arr = np.array([{"evil": 1}, None], dtype=object)
                    elif arr.dtype.kind == "U":  # the JSON metadata
                        arr = np.array(rng.choice(["{", "[1, 2]", "3.5", '{"format": 5}', "null", "", "\x00"]))
                    elif kind == 3:
                        arr = arr.astype(rng.choice([np.float64, np.int8, np.complex64, "<U3"]))
                    else:
                        arr = np.zeros(tuple(rng.randint(0, 3) for _ in range(rng.randint(0, 3))), np.float32)
                    b = io.BytesIO()
                    np.lib.format.write_array(b, arr, allow_pickle=True)
                    raw = b.getvalue()
            dst.writestr(name, raw)
    return buf.getvalue()


# ------------------------------------------------------------------ the child process


def _child(workdir: str) -> None:
    """Run every mutation; print one JSON line of counts; any unexpected exception escapes (a traceback)."""
    import contextlib

    from jaxstyle.params import read_npz
    from jaxstyle.weights.__main__ import main as weights_cli

    wd = pathlib.Path(workdir)
    rng = random.Random(1234)
    counts: dict[str, int] = {}

    def cli(args: list[str]) -> str:
        err = io.StringIO()
        with contextlib.redirect_stderr(err), contextlib.redirect_stdout(io.StringIO()):
            rc = weights_cli(args)
        lines = err.getvalue().strip().splitlines()
        assert rc in (0, 1), (args, rc)
        assert (rc == 0 and not lines) or (rc == 1 and len(lines) == 1 and lines[0].startswith("error: ")), lines
        assert "Traceback" not in err.getvalue()
        return "ok" if rc == 0 else "refused"

    cases = [("zip", "tv_zip.pth", mutate_torch_zip), ("zip-bytes", "tv_zip.pth", mutate_bytes),
             ("legacy", "tv_legacy.pth", mutate_torch_legacy), ("legacy-bytes", "tv_legacy.pth", mutate_bytes),
             ("vgg-npz", "vgg.npz", mutate_npz), ("vgg-npz-bytes", "vgg.npz", mutate_bytes),
             ("export-npz", "export.npz", mutate_npz), ("export-npz-bytes", "export.npz", mutate_bytes)]
    for name, base, mutate in cases:
        data = (wd / base).read_bytes()
        for i in range(ROUNDS):
            f = wd / f"m_{name}{pathlib.Path(base).suffix}"
            f.write_bytes(mutate(data, rng))
            out = wd / "out.npz"
            out.unlink(missing_ok=True)
            if base.endswith(".pth"):
                result = cli(["convert", str(f), "--out", str(out)])
            elif base == "vgg.npz":
                result = cli(["info", str(f)])
            else:
                try:
                    read_npz(f)
                    result = "ok"
                except ValueError as e:  # the API's user error; one line, names the file
                    assert "\n" not in str(e) and str(f) in str(e) and len(str(e)) < 400, str(e)
                    result = "refused"
            counts[f"{name}:{result}"] = counts.get(f"{name}:{result}", 0) + 1
    print(json.dumps(counts))


def test_mutated_weight_files_never_crash_and_are_refused_in_one_line(tmp_path):
    torch = require_module("torch")
    from jaxstyle.params import write_npz
    from jaxstyle.weights.convert import convert

    rng = np.random.default_rng(0)
    widths, cin, sd = (4, 5, 6, 7, 8), 3, {}
    for i, name in enumerate(("1_1", "1_2", "2_1", "2_2", "3_1", "3_2", "3_3", "3_4", "4_1", "4_2", "4_3", "4_4",
                              "5_1", "5_2", "5_3", "5_4")):
        cout = widths[int(name[0]) - 1]
        idx = (0, 2, 5, 7, 10, 12, 14, 16, 19, 21, 23, 25, 28, 30, 32, 34)[i]
        w = torch.from_numpy(rng.normal(size=(3, 3, cin, cout)).astype(np.float32)).permute(3, 2, 0, 1)  # strided
        sd[f"features.{idx}.weight"], sd[f"features.{idx}.bias"] = w, torch.zeros(cout)
        cin = cout
    torch.save(sd, tmp_path / "tv_zip.pth")
    torch.save(sd, tmp_path / "tv_legacy.pth", _use_new_zipfile_serialization=False)
    convert(tmp_path / "tv_zip.pth", tmp_path / "vgg.npz")  # the bases are valid
    write_npz(tmp_path / "export.npz", {"decoder/conv/kernel": rng.normal(size=(3, 3, 4, 3)).astype(np.float32),
                                        "decoder/conv/bias": np.zeros(3, np.float32)}, meta={"method": "adain"})
    r = subprocess.run([sys.executable, "-c", f"import sys; sys.path[:0] = [{str(REPO / 'tests')!r}, {str(REPO)!r}]; "
                        f"import test_weights_fuzz as t; t._child({str(tmp_path)!r})"],
                       capture_output=True, text=True, cwd=REPO, timeout=600)
    assert r.returncode == 0, f"exit {r.returncode} (negative: killed by a signal)\n{r.stderr[-3000:]}"
    counts = json.loads(r.stdout.strip().splitlines()[-1])
    for name in ("zip", "legacy", "vgg-npz", "export-npz"):
        # the structural mutations reach the checks (most are refused) and are not all refused for one reason
        assert counts.get(f"{name}:refused", 0) > ROUNDS // 3, counts
    assert sum(counts.values()) == 8 * ROUNDS


def test_negative_strides_are_refused_not_read_outside_the_storage(tmp_path):
    """The segfault: a tensor record whose negative stride walks before its storage."""
    torch = require_module("torch")
    from jaxstyle.weights.convert import read_state_dict
    from jaxstyle.weights.store import WeightsError

    torch.save({"w": torch.arange(6.0).reshape(2, 3)}, tmp_path / "ok.pth")
    zf = zipfile.ZipFile(tmp_path / "ok.pth")
    pkl = next(n for n in zf.namelist() if n.endswith("data.pkl"))
    raw = zf.read(pkl)
    assert raw.count(b"K\x03K\x01") == 1  # the stride tuple (3, 1) as two BININT1
    evil = raw.replace(b"K\x03K\x01", b"J" + struct.pack("<i", -(2**20)) + b"K\x01")
    with zipfile.ZipFile(tmp_path / "evil.pth", "w") as dst:
        for n in zf.namelist():
            dst.writestr(n, evil if n == pkl else zf.read(n))
    try:
        read_state_dict(tmp_path / "evil.pth")
        raise AssertionError("a negative stride was accepted")
    except WeightsError as e:
        assert "run outside its storage" in str(e) and "evil.pth" in str(e)
    np.testing.assert_array_equal(read_state_dict(tmp_path / "ok.pth")["w"], np.arange(6.0).reshape(2, 3))


def test_refusals_say_why(tmp_path):
    torch = require_module("torch")
    from jaxstyle.params import read_npz
    from jaxstyle.weights.convert import read_state_dict
    from jaxstyle.weights.store import WeightsError

    class Evil:
        def __reduce__(self):
            return (print, ("ran",))

    torch.save({"x": Evil()}, tmp_path / "evil.pth")  # a code-running pickle: refused as unsafe, never run
    torch.save({"w": torch.ones(64, 64)}, tmp_path / "ok.pth")
    data = (tmp_path / "ok.pth").read_bytes()
    (tmp_path / "cut.pth").write_bytes(data[: len(data) // 2])  # a download cut short
    (tmp_path / "rand.npz").write_bytes(bytes(random.Random(0).randrange(256) for _ in range(500)))
    expect = {"evil.pth": "refused as unsafe, nothing in it was run", "cut.pth": "truncated zip-layout torch file"}
    for name, msg in expect.items():
        try:
            read_state_dict(tmp_path / name)
            raise AssertionError(name)
        except WeightsError as e:
            assert msg in str(e), str(e)
            assert "magic" not in str(e) and ("Re-download" in str(e)) == (name == "cut.pth"), str(e)
    try:
        read_npz(tmp_path / "rand.npz")
        raise AssertionError("random bytes read as an npz")
    except ValueError as e:
        assert "not an .npz archive" in str(e) and "allow_pickle" not in str(e), str(e)
