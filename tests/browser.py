"""A supervisor's web browser for the tests: headless Chromium (Debian's `chromium`, no Python package) loads a small
page next to the media, which loads each movie and picture as a tracker's review page does and posts back what it
found: whether it played, its size, length, sound, the mean colour of regions of its first frame, and where a seek
landed. The page's own server takes the findings, and `look_at` returns them as soon as they come (no virtual time
budget: Chromium's virtual clock runs ahead of its media pipeline, so a page timed by it gave up on movies still
loading).

RUSHES_TEST_BROWSER=off skips the tests that need it; otherwise a missing Chromium is a failure saying how to
install it, as a missing PostgreSQL is (tests/conftest.py).
"""

from __future__ import annotations

import json
import os
import shutil
import subprocess
import threading
import urllib.parse
from collections.abc import Iterator
from contextlib import contextmanager
from dataclasses import dataclass
from functools import partial
from http.server import SimpleHTTPRequestHandler, ThreadingHTTPServer
from pathlib import Path
from typing import Any

import pytest

from integrations.trackers.sgserver.app import requested_bytes

INSTALL_HINT = "install it (apt-get install chromium; make test does it) or set RUSHES_TEST_BROWSER=off"
NAMES = ("chromium", "chromium-browser", "google-chrome")
ITEM_TIMEOUT_MS = 20000  # a file that neither loads nor fails in this long is reported as timed out
# Regions whose mean colour the page reports: (left, top, right, bottom) as fractions of the frame.
REGIONS = ((0.0, 0.0, 0.5, 0.5), (0.5, 0.0, 1.0, 0.5), (0.0, 0.5, 0.5, 1.0), (0.5, 0.5, 1.0, 1.0))

PAGE = """<!doctype html><html><body><script>
const items = JSON.parse(decodeURIComponent(location.hash.slice(1)));
const regions = REGIONS, out = {};
function means(el, w, h) {  // null while the element has no picture to draw yet (the canvas stays transparent)
  const c = document.createElement('canvas'); c.width = w; c.height = h;
  const g = c.getContext('2d'); g.drawImage(el, 0, 0);
  const d = g.getImageData(0, 0, w, h).data;
  if (d[3] === 0) return null;
  return regions.map(([l, t, r, b]) => {
    const s = [0, 0, 0]; let n = 0;
    for (let y = Math.floor(t * h); y < Math.floor(b * h); y++)
      for (let x = Math.floor(l * w); x < Math.floor(r * w); x++, n++)
        for (let k = 0; k < 3; k++) s[k] += d[4 * (y * w + x) + k];
    return s.map(v => v / n);
  });
}
function look(item) {
  return new Promise(resolve => {
    const picture = /\\.(jpe?g|png)$/i.test(item.name), r = {played: false};
    const el = document.createElement(picture ? 'img' : 'video');
    const done = () => { if (!(item.name in out)) { out[item.name] = r; resolve(); } };
    setTimeout(() => { if (!(item.name in out)) { r.timedOut = true; done(); } }, ITEM_TIMEOUT_MS);
    el.addEventListener('error', () => { r.error = el.error ? el.error.code + ': ' + el.error.message : 'error'; done(); });
    const loaded = () => {
      r.played = true;
      r.width = picture ? el.naturalWidth : el.videoWidth; r.height = picture ? el.naturalHeight : el.videoHeight;
      if (item.at !== null && item.at !== undefined) {  // the frame at that time instead of the first
        const read = () => { r.regions = means(el, r.width, r.height); if (r.regions) done(); else setTimeout(read, 20); };
        if (el.requestVideoFrameCallback) {  // 'seeked' can come before the new frame is painted (a loaded box)
          const presented = (now, meta) => {
            if (meta.mediaTime <= item.at && item.at - meta.mediaTime < 0.05) read();
            else el.requestVideoFrameCallback(presented);
          };
          el.requestVideoFrameCallback(presented);
        } else {
          el.addEventListener('seeked', read, {once: true});
        }
        el.currentTime = item.at;
        return;
      }
      if (item.pixels) {  // 'loadeddata' can come before the first frame can be drawn (a loaded box): until it is
        r.regions = means(el, r.width, r.height);
        if (!r.regions) { setTimeout(loaded, 20); return; }
      }
      if (picture) return done();
      r.duration = el.duration; r.soundBytes = el.webkitAudioDecodedByteCount;  // preroll decodes the sound
      r.seekable = el.seekable.length ? el.seekable.end(el.seekable.length - 1) : 0;
      if (item.seek !== undefined) {
        el.addEventListener('seeked', () => { r.seekedTo = el.currentTime; done(); }, {once: true});
        el.currentTime = item.seek;
        return;
      }
      done();
    };
    el.addEventListener(picture ? 'load' : 'loadeddata', loaded, {once: true});
    if (!picture) { el.muted = true; el.preload = 'auto'; }
    el.src = item.src; document.body.appendChild(el);
  });
}
Promise.all(items.map(look)).then(() => fetch('/findings', {method: 'POST', body: JSON.stringify(out)}));
</script></body></html>
""".replace("REGIONS", json.dumps(REGIONS)).replace("ITEM_TIMEOUT_MS", str(ITEM_TIMEOUT_MS))


@dataclass(frozen=True)
class Look:
    """One file to look at: `name` is its key in the findings (a picture when it ends .jpg or .png), `src` where
    the page loads it from (a file beside the page, or a tracker's url); `pixels` reads its first frame's colours
    (only same-origin files), `seek` seeks to that second instead of playing."""

    name: str
    src: str
    pixels: bool = True
    seek: float | None = None
    at: float | None = None  # read the colours of the frame at this second rather than the first


def chromium() -> str:
    """The Chromium program; skips with RUSHES_TEST_BROWSER=off, fails saying how to install it when missing."""
    if os.environ.get("RUSHES_TEST_BROWSER", "").lower() in ("off", "0", "no", "false"):
        pytest.skip("browser tests are off (RUSHES_TEST_BROWSER=off)")
    found = next((shutil.which(name) for name in NAMES if shutil.which(name)), None)
    if found is None:
        pytest.fail(f"Chromium not found ({', '.join(NAMES)}): {INSTALL_HINT}", pytrace=False)
    return found


class _Findings:
    """What the page posts back, once."""

    def __init__(self) -> None:
        self.arrived = threading.Event()
        self.text = ""


class _Page(SimpleHTTPRequestHandler):
    """The folder's files, in the byte range asked (Chromium seeks only so), and POST /findings from the page."""

    findings: _Findings

    def log_message(self, format: str, *args: Any) -> None:
        pass

    def do_GET(self) -> None:
        path = Path(self.translate_path(self.path))
        asked = self.headers.get("Range")
        if asked is None or not path.is_file():
            super().do_GET()
            return
        content = path.read_bytes()
        first, last = requested_bytes(asked, len(content)) or (0, len(content) - 1)
        self.send_response(206)
        self.send_header("Content-Type", self.guess_type(str(path)))
        self.send_header("Accept-Ranges", "bytes")
        self.send_header("Content-Range", f"bytes {first}-{last}/{len(content)}")
        self.send_header("Content-Length", str(last - first + 1))
        self.end_headers()
        self.wfile.write(content[first : last + 1])

    def do_POST(self) -> None:
        length = int(self.headers.get("Content-Length") or 0)
        self.findings.text = self.rfile.read(length).decode("utf-8")
        self.send_response(204)
        self.end_headers()
        self.findings.arrived.set()


@contextmanager
def served(folder: Path) -> Iterator[tuple[str, _Findings]]:
    """`folder` served over HTTP on a free loopback port (canvas reads need an http origin): its base url, and
    the findings its page posts."""
    findings = _Findings()
    handler = type("_FolderPage", (_Page,), {"findings": findings})
    server = ThreadingHTTPServer(("127.0.0.1", 0), partial(handler, directory=str(folder)))
    thread = threading.Thread(target=server.serve_forever, daemon=True)
    thread.start()
    try:
        yield f"http://127.0.0.1:{server.server_address[1]}", findings
    finally:
        server.shutdown()
        server.server_close()


def look_at(folder: Path, looks: list[Look], timeout: float = 120.0) -> dict[str, dict[str, Any]]:
    """Open one headless Chromium on a page in `folder` that looks at every file of `looks`: its findings by
    name (played, width, height, duration, soundBytes, regions, seekable, seekedTo, error)."""
    program = chromium()
    (folder / "look.html").write_text(PAGE)
    items = urllib.parse.quote(json.dumps([look.__dict__ for look in looks]))
    log = folder / "chromium.log"
    with served(folder) as (base, findings), log.open("wb") as errors:
        command = [
            program,
            "--headless=new",
            "--no-sandbox",
            "--disable-gpu",
            "--mute-audio",
            f"--user-data-dir={folder / '.chromium'}",
            f"{base}/look.html#{items}",
        ]
        browser = subprocess.Popen(command, stdout=subprocess.DEVNULL, stderr=errors)
        try:
            arrived = findings.arrived.wait(timeout)
        finally:
            browser.terminate()
            browser.wait(30)
    if not arrived:
        said = log.read_text(errors="replace")[-2000:]
        raise AssertionError(f"Chromium posted no findings in {timeout:.0f} s: {said}")
    found: dict[str, dict[str, Any]] = json.loads(findings.text)
    return found
