"""Import ultralytics offline: no hub, no telemetry, settings kept in a folder of our own."""
from __future__ import annotations

import os
import tempfile


def ultralytics():
    os.environ.setdefault("YOLO_OFFLINE", "1")
    os.environ.setdefault("YOLO_VERBOSE", "False")
    if "YOLO_CONFIG_DIR" not in os.environ:
        d = os.path.join(tempfile.gettempdir(), "segscan-ultralytics")
        os.makedirs(d, exist_ok=True)
        os.environ["YOLO_CONFIG_DIR"] = d
    import ultralytics as ul
    from ultralytics import settings

    # no telemetry and no logging integrations (Ray Tune would attach to segscan's own Ray)
    off = {k: False for k in ("sync", "raytune", "tensorboard", "wandb", "mlflow", "comet", "clearml", "dvc",
                              "neptune") if k in settings}
    settings.update(off)
    return ul
