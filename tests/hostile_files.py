"""Crafted hostile files, and a probe that loads each in a child process under a memory limit.

Each attack in ATTACKS writes one file: deep nesting, memo reuse, many small objects,
compressed bombs, huge dimensions, bad UTF-8, duplicate keys, code that must never run.
`probe(paths)` runs `python -m tests.hostile_files` once: it imports ember, then forks one
child per file. Each child lowers its own RLIMIT_AS, arms an alarm, loads the file and
reports how the load ended and how far its resident memory rose (VmHWM after resetting it).

    python -m tests.hostile_files DIR [--limit-mb N] [--timeout S]

writes every attack into DIR, probes them and prints one JSON line per attack.
"""

from __future__ import annotations

import gzip
import json
import os
import signal
import struct
import subprocess
import sys
import zipfile
import zlib
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent
DEEP = 200_000  # deep enough to overflow the C stack when such a tuple is hashed


# ---------------------------------------------------------------- .pt (zip + data.pkl)


def write_pt(path, data_pkl, extra=()):
    """A PyTorch-style zip checkpoint whose archive/data.pkl is `data_pkl`."""
    with zipfile.ZipFile(path, "w") as z:
        z.writestr("archive/data.pkl", data_pkl)
        z.writestr("archive/byteorder", "little")
        z.writestr("archive/version", "3\n")
        for name, data in extra:
            z.writestr(name, data)
    return path


def _binunicode(text):
    raw = text.encode("utf-8")
    return b"X" + struct.pack("<I", len(raw)) + raw


def pt_deep_tuple_key(path, depth=DEEP):
    """A dict whose key is a tuple nested `depth` deep (hashing it overflows the C stack)."""
    return write_pt(path, b"\x80\x02}" + b")" + b"\x85" * depth + b"K\x01s.")


def pt_deep_tuple_in_set(path, depth=DEEP):
    """A set holding a tuple nested `depth` deep."""
    return write_pt(path, b"\x80\x04\x8f(" + b")" + b"\x85" * depth + b"\x90.")


def pt_deep_lists(path, depth=DEEP):
    """Lists nested `depth` deep, built by appending each into the one below it."""
    return write_pt(path, b"\x80\x02" + b"]" * depth + b"a" * (depth - 1) + b".")


def _memo_calls(module, name, items, calls):
    # GLOBAL -> memo 1; a list of `items` -> memo 0; then `calls` x GLOBAL(list) in one list
    return (
        b"\x80\x02c" + module + b"\n" + name + b"\nq\x010"
        + b"](" + items + b"eq\x000"
        + b"](" + b"h\x01h\x00\x85R" * calls + b"e."
    )  # fmt: skip


def pt_memo_size(path, n=100_000, calls=300):
    """A memoized list of n ints passed `calls` times to torch.Size (each call copies it)."""
    return write_pt(path, _memo_calls(b"torch", b"Size", b"K\x01" * n, calls))


def pt_memo_frozenset(path, n=66_000, calls=300):
    """A memoized list of n distinct ints passed `calls` times to builtins.frozenset."""
    items = b"".join(b"M" + struct.pack("<H", i % 65536) for i in range(n))
    return write_pt(path, _memo_calls(b"builtins", b"frozenset", items, calls))


def pt_memo_tuple_items(path, n=50_000, copies=2_000):
    """One memoized list placed `copies` times into tuples of 3 (references, not copies)."""
    items = b"K\x01" * n
    body = b"](" + items + b"eq\x000" + b"](" + b"h\x00h\x00h\x00\x87" * copies + b"e."
    return write_pt(path, b"\x80\x02" + body)


def pt_many_empty_sets(path, n=200_000):
    """n empty sets on the stack (one byte of file each, 216 bytes of memory each)."""
    return write_pt(path, b"\x80\x04(" + b"\x8f" * n + b"l.")


def pt_put_digits(path, digits=5_000):
    """A text PUT whose memo index has thousands of digits."""
    return write_pt(path, b"\x80\x02K\x01p" + b"1" * digits + b"\n.")


def pt_get_digits(path, digits=5_000):
    """A text GET whose memo index has thousands of digits."""
    return write_pt(path, b"\x80\x02g" + b"9" * digits + b"\n.")


def pt_bad_utf8_string(path):
    """A BINUNICODE string that is not UTF-8."""
    return write_pt(path, b"\x80\x02X\x02\x00\x00\x00\xff\xfe.")


def pt_bad_utf8_global(path):
    """A GLOBAL whose module name is not UTF-8."""
    return write_pt(path, b"\x80\x02c\xff\xfe\nSize\n)R.")


def pt_duplicate_members(path):
    """Two archive/data.pkl members (zip allows duplicate names)."""
    with zipfile.ZipFile(path, "w") as z:
        z.writestr("archive/data.pkl", b"\x80\x02K\x01.")
        with __import__("warnings").catch_warnings():
            __import__("warnings").simplefilter("ignore")
            z.writestr("archive/data.pkl", b"\x80\x02K\x02.")
    return path


def pt_compressed_bomb(path, mb=64):
    """data.pkl deflated: a few hundred KB that inflate to `mb` MB."""
    data = b"\x80\x02(" + b"N" * (mb << 20) + b"l."
    with zipfile.ZipFile(path, "w") as z:
        z.writestr("archive/data.pkl", data, compress_type=zipfile.ZIP_DEFLATED)
        z.writestr("archive/byteorder", "little")
    return path


def pt_hash_bomb(path, levels=60):
    """A dict key t60 where t[i] = (t[i-1], t[i-1]): 120 bytes whose hash visits 2**60 tuples."""
    pairs = b"".join(b"h%ch%c\x86q%c0" % (i - 1, i - 1, i) for i in range(1, levels + 1))
    return write_pt(path, b"\x80\x02}K\x01\x85q\x000" + pairs + b"h%cK\x01s." % levels)


def _tensor_call(size, stride, key=b"0", numel=4):
    pid = (
        b"(X\x07\x00\x00\x00storagectorch\nFloatStorage\n"
        + _binunicode(key.decode())
        + b"X\x03\x00\x00\x00cpu"
        + b"J" + struct.pack("<i", numel)
        + b"tQ"
    )  # fmt: skip

    def ints(values):
        return b"(" + b"".join(b"\x8a\x09" + v.to_bytes(9, "little") for v in values) + b"t"

    return (
        b"ctorch._utils\n_rebuild_tensor_v2\n(" + pid + b"K\x00"
        + ints(size) + ints(stride) + b"\x89ccollections\nOrderedDict\n)Rt"
        + b"R"
    )  # fmt: skip


def pt_huge_dims(path):
    """A tensor of size (0, 2**62, 4): no elements, yet too big for any array."""
    data = b"\x80\x02" + _tensor_call([0, 2**62, 4], [1, 1, 1]) + b"."
    return write_pt(path, data, extra=[("archive/data/0", b"\0" * 16)])


def pt_code_exec(path, marker):
    """A dict whose value calls os.system('touch MARKER'), under a few levels of nesting."""
    call = b"cos\nsystem\n" + _binunicode(f"touch {marker}") + b"\x85R"
    return write_pt(path, b"\x80\x02}K\x01]" + call + b"as.")


# ---------------------------------------------------------------- safetensors


def write_safetensors(path, header, data=b""):
    """A safetensors file with this header (a dict, or raw bytes) and data."""
    raw = header if isinstance(header, bytes) else json.dumps(header).encode()
    raw += b" " * (-len(raw) % 8)
    Path(path).write_bytes(len(raw).to_bytes(8, "little") + raw + data)
    return path


def st_zero_size_entries(path, n=180_000):
    """n zero-size tensors: a header of a few MB, no data at all."""
    entry = '"t%d":{"dtype":"F32","shape":[0],"data_offsets":[0,0]}'
    raw = ("{" + ",".join(entry % i for i in range(n)) + "}").encode()
    return write_safetensors(path, raw)


def st_huge_dims(path):
    """A zero-size tensor of shape [0, 2**64]."""
    return write_safetensors(
        path, {"x": {"dtype": "F32", "shape": [0, 2**64], "data_offsets": [0, 0]}}
    )


def st_bad_utf8(path):
    """A header that is not UTF-8."""
    return write_safetensors(path, b'{"x\xff":{}}')


def st_duplicate_keys(path):
    """Two tensors of the same name."""
    entry = '"x":{"dtype":"U8","shape":[1],"data_offsets":[0,1]}'
    return write_safetensors(path, ("{" + entry + "," + entry + "}").encode(), b"\x01")


def st_deep_metadata(path, depth=DEEP):
    """ember metadata of tuples nested `depth` deep."""
    structure = '{"tuple":[' * depth + "1" + "]}" * depth
    document = '{"version":1,"object":' + structure + "}"
    return write_safetensors(path, {"__metadata__": {"ember": document}})


# ---------------------------------------------------------------- IDX


def _idx_header(shape, code=0x08):
    return bytes([0, 0, code, len(shape)]) + struct.pack(f">{len(shape)}I", *shape)


def _gzip_zeros(head, mb):
    packer = zlib.compressobj(9, zlib.DEFLATED, 31)  # wbits 31: a gzip stream
    chunks = [packer.compress(head)]
    zeros = bytes(1 << 20)
    chunks += [packer.compress(zeros) for _ in range(mb)]
    chunks.append(packer.flush())
    return b"".join(chunks)


def idx_gzip_bomb(path, mb=600):
    """A gzip whose header claims 10 images of 28x28, followed by `mb` MB of zeros."""
    Path(path).write_bytes(_gzip_zeros(_idx_header((10, 28, 28)), mb))
    return path


def idx_gzip_short(path):
    """A gzip whose header claims 1000 images but holds one."""
    Path(path).write_bytes(gzip.compress(_idx_header((1000, 28, 28)) + bytes(784)))
    return path


def idx_huge_claim(path):
    """A plain file whose header claims 2**32-1 x 2**32-1 x 255 bytes."""
    Path(path).write_bytes(_idx_header((2**32 - 1, 2**32 - 1, 255)) + bytes(16))
    return path


# name -> (writer, kind); kind "load" is ember.load, "idx" is read_idx
ATTACKS = {
    "pt_deep_tuple_key": (pt_deep_tuple_key, "load"),
    "pt_deep_tuple_in_set": (pt_deep_tuple_in_set, "load"),
    "pt_deep_lists": (pt_deep_lists, "load"),
    "pt_memo_size": (pt_memo_size, "load"),
    "pt_memo_frozenset": (pt_memo_frozenset, "load"),
    "pt_memo_tuple_items": (pt_memo_tuple_items, "load"),
    "pt_many_empty_sets": (pt_many_empty_sets, "load"),
    "pt_put_digits": (pt_put_digits, "load"),
    "pt_get_digits": (pt_get_digits, "load"),
    "pt_bad_utf8_string": (pt_bad_utf8_string, "load"),
    "pt_bad_utf8_global": (pt_bad_utf8_global, "load"),
    "pt_duplicate_members": (pt_duplicate_members, "load"),
    "pt_compressed_bomb": (pt_compressed_bomb, "load"),
    "pt_hash_bomb": (pt_hash_bomb, "load"),
    "pt_huge_dims": (pt_huge_dims, "load"),
    "st_zero_size_entries": (st_zero_size_entries, "load"),
    "st_huge_dims": (st_huge_dims, "load"),
    "st_bad_utf8": (st_bad_utf8, "load"),
    "st_duplicate_keys": (st_duplicate_keys, "load"),
    "st_deep_metadata": (st_deep_metadata, "load"),
    "idx_gzip_bomb": (idx_gzip_bomb, "idx"),
    "idx_gzip_short": (idx_gzip_short, "idx"),
    "idx_huge_claim": (idx_huge_claim, "idx"),
}


def write_all(directory, names=None, sizes=None):
    """Write the named attacks (all by default) into `directory`; {name: (path, kind)}.
    `sizes` maps an attack to keyword arguments for its writer."""
    out = {}
    for name in names or ATTACKS:
        writer, kind = ATTACKS[name]
        out[name] = (Path(writer(Path(directory) / name, **(sizes or {}).get(name, {}))), kind)
    return out


# ---------------------------------------------------------------- the probe


def _status_kb(field):
    with open("/proc/self/status") as fh:
        for line in fh:
            if line.startswith(field + ":"):
                return int(line.split()[1])
    return 0


def _load(path, kind):
    if kind == "idx":
        from ember.utils.data.idx import read_idx

        return read_idx(path)
    import ember

    return ember.load(path)


def _child(path, kind, limit_mb, timeout, write_fd):
    import resource

    signal.alarm(int(timeout))
    try:
        with open("/proc/self/clear_refs", "w") as fh:
            fh.write("5")  # reset VmHWM to the current resident size
    except OSError:
        pass
    before = _status_kb("VmRSS")
    if limit_mb:
        limit = (_status_kb("VmSize") + limit_mb * 1024) * 1024
        resource.setrlimit(resource.RLIMIT_AS, (limit, resource.RLIM_INFINITY))
    result = {}
    try:
        _load(path, kind)
        result["outcome"] = "loaded"
    except BaseException as e:  # noqa: BLE001 - the probe reports whatever happened
        result["outcome"] = type(e).__name__
        result["message"] = str(e)[:2000]
    result["peak_mb"] = round((_status_kb("VmHWM") - before) / 1024, 1)
    os.write(write_fd, json.dumps(result).encode())
    os._exit(0)


def _probe_one(path, kind, limit_mb, timeout):
    read_fd, write_fd = os.pipe()
    pid = os.fork()
    if pid == 0:
        os.close(read_fd)
        _child(path, kind, limit_mb, timeout, write_fd)
    os.close(write_fd)
    chunks = []
    while chunk := os.read(read_fd, 65536):
        chunks.append(chunk)
    os.close(read_fd)
    _, status = os.waitpid(pid, 0)
    if chunks:
        return json.loads(b"".join(chunks))
    if os.WIFSIGNALED(status):
        sig = signal.Signals(os.WTERMSIG(status)).name
        return {"outcome": "timeout" if sig == "SIGALRM" else f"killed by {sig}"}
    return {"outcome": f"exited {os.WEXITSTATUS(status)} without a report"}


def _main(argv):
    import argparse

    parser = argparse.ArgumentParser()
    parser.add_argument("directory")
    parser.add_argument("--limit-mb", type=int, default=0)
    parser.add_argument("--timeout", type=float, default=60)
    parser.add_argument("--probe", nargs="*", metavar="NAME:KIND", default=None)
    args = parser.parse_args(argv)
    if args.probe is None:
        items = [
            (name, str(path), kind) for name, (path, kind) in write_all(args.directory).items()
        ]
    else:
        items = [(Path(p).name, p, kind) for p, kind in (a.rsplit(":", 1) for a in args.probe)]
    import ember  # noqa: F401  (imported once, before the children fork)
    import ember.utils.data.idx  # noqa: F401
    from ember import _pt_reader  # noqa: F401

    for name, path, kind in items:
        result = _probe_one(path, kind, args.limit_mb, args.timeout)
        result.update(name=name, file_kb=round(os.path.getsize(path) / 1024, 1))
        print(json.dumps(result), flush=True)


def probe(paths_and_kinds, limit_mb, timeout=60):
    """{name: report} for each (path, kind), each loaded in its own child under limit_mb."""
    env = dict(os.environ, OPENBLAS_NUM_THREADS="1", OMP_NUM_THREADS="1", MKL_NUM_THREADS="1")
    env["PYTHONPATH"] = os.pathsep.join(p for p in (str(ROOT), env.get("PYTHONPATH")) if p)
    specs = [f"{path}:{kind}" for path, kind in paths_and_kinds]
    cmd = [sys.executable, "-m", "tests.hostile_files", "-", "--limit-mb", str(limit_mb)]
    cmd += ["--timeout", str(timeout), "--probe", *specs]
    proc = subprocess.run(
        cmd, capture_output=True, text=True, env=env, timeout=timeout * len(specs) + 60
    )
    reports = [json.loads(line) for line in proc.stdout.splitlines() if line.startswith("{")]
    if len(reports) != len(specs):
        raise AssertionError(f"the probe failed (exit {proc.returncode}):\n{proc.stderr[-3000:]}")
    return {r["name"]: r for r in reports}


if __name__ == "__main__":
    _main(sys.argv[1:])
