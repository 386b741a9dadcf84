"""The console scripts work from a built wheel installed in a fresh environment."""
import site
import subprocess
import sys
import zipfile
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]


def test_console_scripts_work_from_an_installed_wheel(tmp_path):
    dist = tmp_path / "dist"
    subprocess.run([sys.executable, "-m", "pip", "wheel", "-q", "--no-deps", "--no-build-isolation", "-w", str(dist),
                    str(ROOT)], check=True, cwd=tmp_path)
    (wheel,) = dist.glob("segscan-*.whl")
    names = zipfile.ZipFile(wheel).namelist()
    assert "segscan/detectors/weights/spd-yolo11n.pt" in names  # the shipped weights travel with it
    env = tmp_path / "fresh"
    subprocess.run([sys.executable, "-m", "venv", "--without-pip", str(env)], check=True)
    py = env / "bin" / "python"
    subprocess.run([sys.executable, "-m", "pip", "--python", str(py), "install", "-q", "--no-deps", str(wheel)],
                   check=True)
    # the dependencies come from this environment (a plain path entry: its .pth files, the source
    # checkout's editable hook among them, are not run)
    fresh_site = subprocess.run([str(py), "-c", "import sysconfig; print(sysconfig.get_paths()['purelib'])"],
                                capture_output=True, text=True, check=True).stdout.strip()
    Path(fresh_site, "deps.pth").write_text("\n".join(site.getsitepackages()) + "\n")
    where = subprocess.run([str(py), "-c", "import segscan; print(segscan.__file__)"], cwd=tmp_path,
                           capture_output=True, text=True, check=True).stdout
    assert where.startswith(str(env)), where
    for script, flag in (("segscan-query", "--topk"), ("segscan-ingest", "--workers"), ("segscan-videos", "rebuild")):
        r = subprocess.run([str(env / "bin" / script), "--help"], cwd=tmp_path, capture_output=True, text=True)
        assert r.returncode == 0, r.stderr
        assert flag in r.stdout
