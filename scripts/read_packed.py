#!/usr/bin/python3
"""Read a qretrain packed model file (written by `qretrain export-model`,
src/deploy/packed.cpp) with numpy and the standard library alone.

Layout:
  bytes 0..7   ASCII magic "QRPACK01"
  uint32 LE    H, the header length
  H bytes      JSON header (UTF-8); header["tensors"] lists {name, shape,
               offset, bytes, encoding: "levels" | "float32", and for levels
               bits and delta}, offsets relative to the payload start
  payload      the tensors
  uint32 LE    CRC-32 (zlib.crc32) of every byte before it
"levels": level l in [-L, L], L = 2^(bits-1) - 1, is stored as code l + L in a
`bits`-bit field, fields packed LSB first (element i occupies bits
i*bits .. i*bits+bits-1 of the tensor's bytes, bit j being bit j % 8 of byte
j // 8); codes above 2L are invalid. Weights = float32(delta) * l in float32.
"float32": little-endian float32 values in C order.

Usage: read_packed.py FILE [--raw-out OUT]
  prints one line per tensor and the header's cell and network summary;
  --raw-out writes every tensor's float32 values (rebuilt weights for level
  tensors) concatenated in header order, little-endian, to OUT.
  A bad file exits 1 with the message on stderr.
"""
import argparse
import json
import math
import sys
import zlib

import numpy as np

MAGIC = b"QRPACK01"


def load(path):
    """Returns (header, tensors: name -> float32 array, levels: name -> int8
    array for level tensors). Raises ValueError naming the file if it is bad."""
    def bad(why):
        return ValueError(f"{path}: not a valid packed model: {why}")

    with open(path, "rb") as f:
        data = f.read()
    if len(data) < len(MAGIC) + 8:
        raise bad(f"only {len(data)} bytes, too short for magic, header length and CRC")
    if data[:8] != MAGIC:
        raise bad("it does not start with QRPACK01")
    stored, crc = int.from_bytes(data[-4:], "little"), zlib.crc32(data[:-4])
    if crc != stored:
        raise bad(f"CRC-32 {crc:08x} differs from the stored {stored:08x} (truncated or altered)")
    size = int.from_bytes(data[8:12], "little")
    start = 12 + size  # the payload runs from here to the CRC
    if start > len(data) - 4:
        raise bad("the header runs past the end of the file")
    payload = memoryview(data)[start:-4]
    try:
        header = json.loads(data[12:start].decode("utf-8"))
        if header.get("format") != "qretrain-packed" or header.get("version") != 1:
            raise bad("the header is not format qretrain-packed version 1")
        tensors, levels = {}, {}
        for t in header["tensors"]:
            name, shape, enc = t["name"], tuple(t["shape"]), t["encoding"]
            offset, nbytes, n = t["offset"], t["bytes"], math.prod(shape)
            if any(d <= 0 for d in shape):
                raise bad(f"tensor '{name}' has shape {shape}")
            if enc == "levels":
                bits, delta = t["bits"], t["delta"]
                if not 2 <= bits <= 8:
                    raise bad(f"tensor '{name}' has {bits} bits (2..8 supported)")
                if not (delta > 0 and math.isfinite(delta)):
                    raise bad(f"tensor '{name}' has step {delta}")
                need = (n * bits + 7) // 8
            elif enc == "float32":
                need = 4 * n
            else:
                raise bad(f"tensor '{name}' has encoding '{enc}'")
            if nbytes != need:
                raise bad(f"tensor '{name}' of shape {shape} needs {need} bytes, the header gives {nbytes}")
            if offset < 0 or offset + nbytes > len(payload):
                raise bad(f"tensor '{name}' ({nbytes} bytes at offset {offset}) runs past the {len(payload)}-byte payload")
            raw = np.frombuffer(payload[offset:offset + nbytes], dtype=np.uint8)
            if enc == "float32":
                tensors[name] = raw.view("<f4").astype(np.float32).reshape(shape)
                continue
            # One row of `bits` bits per element, LSB first; weigh them into codes.
            fields = np.unpackbits(raw, count=n * bits, bitorder="little").reshape(n, bits)
            codes = fields.astype(np.int32) @ (1 << np.arange(bits, dtype=np.int32))
            top = 2 * ((1 << (bits - 1)) - 1)
            if (codes > top).any():
                i = int(np.argmax(codes > top))
                raise bad(f"tensor '{name}' holds code {codes[i]} at element {i}, above {top} for {bits} bits")
            lv = (codes - top // 2).astype(np.int8).reshape(shape)
            levels[name] = lv
            # float32(delta) * level, a float32 product as on the C++ side.
            tensors[name] = np.float32(delta) * lv.astype(np.float32)
    except (KeyError, TypeError, UnicodeDecodeError, json.JSONDecodeError) as e:
        raise bad(f"header: {type(e).__name__}: {e}") from None
    return header, tensors, levels


def main():
    ap = argparse.ArgumentParser(description="Print (and dump) a qretrain packed model file.")
    ap.add_argument("file")
    ap.add_argument("--raw-out", metavar="OUT", help="write all tensors as little-endian float32 to OUT")
    args = ap.parse_args()
    try:
        header, tensors, levels = load(args.file)
    except (OSError, ValueError) as e:
        print(f"read_packed: {e}", file=sys.stderr)
        return 1
    for t in header["tensors"]:
        name, lv = t["name"], levels.get(t["name"])
        shape = "x".join(str(d) for d in t["shape"])
        used = len(np.unique(lv)) if lv is not None else "-"
        print(f"{name:28s} {shape:>14s} {t['encoding']:8s} bits={t.get('bits', '-')} "
              f"delta={t.get('delta', '-')} levels_used={used} bytes={t['bytes']}")
    for key in ("cell", "network", "evaluation"):
        if key in header:
            print(f"{key}: " + ", ".join(f"{k}={v}" for k, v in header[key].items()))
    if args.raw_out:
        with open(args.raw_out, "wb") as f:
            for t in header["tensors"]:
                f.write(tensors[t["name"]].astype("<f4").tobytes())
    return 0


if __name__ == "__main__":
    sys.exit(main())
