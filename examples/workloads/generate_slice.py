#!/usr/bin/env python3
"""Writes a deterministic .slice file: raw bytes for the transcode/gpuhash reference runners.

The bytes are SHA-256 in counter mode over the seed, so the same seed and size always give the
same file on any machine, with nothing but the standard library:

    block i = SHA-256(b"taskmarket slice v1\\0" + seed + i as 8 bytes little-endian)
    file    = the first SIZE bytes of block 0 || block 1 || ...

Usage:
    python3 generate_slice.py --seed transcode --size 65536 --out transcode.slice
    python3 generate_slice.py --seed gpuhash --size 1572864 --out gpuhash.slice

Then `taskmarket run-workload FILE` prints the file's BLAKE3 proof hash.
"""

import argparse
import hashlib
import sys

DOMAIN = b"taskmarket slice v1\0"


def slice_bytes(seed: bytes, size: int) -> bytes:
    out = bytearray()
    counter = 0
    while len(out) < size:
        out += hashlib.sha256(DOMAIN + seed + counter.to_bytes(8, "little")).digest()
        counter += 1
    return bytes(out[:size])


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--seed", required=True, help="any text; the same seed gives the same bytes")
    parser.add_argument("--size", required=True, type=int, help="bytes to write")
    parser.add_argument("--out", required=True, help="output file, e.g. transcode.slice")
    args = parser.parse_args()
    if args.size < 0:
        parser.error("--size must not be negative")
    with open(args.out, "wb") as f:
        f.write(slice_bytes(args.seed.encode("utf-8"), args.size))
    print(f"wrote {args.size} bytes to {args.out}", file=sys.stderr)
    return 0


if __name__ == "__main__":
    sys.exit(main())
