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

    try:
        settings.update({"sync": False})
    except Exception:  # noqa: BLE001 - older/newer settings schemas; offline mode is what matters
        pass
    return ul
