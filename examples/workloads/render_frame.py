#!/usr/bin/env python3
"""A toy renderer for the worker's external-command runner (rendering).

The agent runs it once per frame with:
    TASKMARKET_PAYLOAD     path of the job payload (JSON: scene_file, resolution, frames)
    TASKMARKET_FRAME       the frame number
    TASKMARKET_OUTPUT_DIR  where to write the frame's files (they become artifacts)

It writes frame.ppm: a deterministic gradient that depends on the payload and the frame, at a
thumbnail size (at most 64 pixels wide) so a job of many frames stays within the result size
limit. A real provider points the command at Blender or another renderer instead.
"""

import hashlib
import json
import os


def main() -> None:
    with open(os.environ["TASKMARKET_PAYLOAD"], encoding="utf-8") as f:
        payload = json.load(f)
    frame = int(os.environ["TASKMARKET_FRAME"])
    out_dir = os.environ["TASKMARKET_OUTPUT_DIR"]
    width, height = (int(v) for v in payload["resolution"].split("x"))
    scale = max(1, -(-width // 64))
    w, h = max(1, width // scale), max(1, height // scale)
    tint = hashlib.sha256(f"{payload['scene_file']}#{frame}".encode()).digest()
    pixels = bytearray()
    for y in range(h):
        for x in range(w):
            pixels += bytes(((x * 255 // w) ^ tint[0], (y * 255 // h) ^ tint[1], (frame * 7) ^ tint[2]))
    with open(os.path.join(out_dir, "frame.ppm"), "wb") as f:
        f.write(f"P6 {w} {h} 255\n".encode() + bytes(pixels))


if __name__ == "__main__":
    main()
