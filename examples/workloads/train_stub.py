#!/usr/bin/env python3
"""A stand-in trainer for the worker's external-command runner (training).

The agent runs it once per job with TASKMARKET_PAYLOAD (the job payload as JSON: model_architecture,
dataset_url, epochs, batch_size) and TASKMARKET_OUTPUT_DIR (every file written there is an
artifact). It trains nothing: it writes model.json, a deterministic "checkpoint" made from the
payload, so that a new market can see a training task go from created to completed. A real
provider points the command at its training script (PyTorch, JAX, ...) instead.
"""

import hashlib
import json
import os


def main() -> None:
    with open(os.environ["TASKMARKET_PAYLOAD"], encoding="utf-8") as f:
        payload = json.load(f)
    digest = hashlib.sha256(json.dumps(payload, sort_keys=True).encode()).hexdigest()
    checkpoint = {
        "model_architecture": payload.get("model_architecture"),
        "epochs": payload.get("epochs"),
        "weights_sha256": digest,
    }
    with open(os.path.join(os.environ["TASKMARKET_OUTPUT_DIR"], "model.json"), "w", encoding="utf-8") as f:
        json.dump(checkpoint, f, sort_keys=True)


if __name__ == "__main__":
    main()
