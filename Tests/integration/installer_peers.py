"""Peers for the installer-page tests: headless Chromium rendering /status.html, and small parsers
for the rendered DOM and the Prometheus text."""
import html.parser
import re
import shutil
import subprocess

CHROMIUM = next((c for c in ("chromium", "chromium-browser", "google-chrome") if shutil.which(c)), None)

# Headless, no sandbox (tests may run as root), and nothing that would talk to anything but the page.
CHROMIUM_FLAGS = ["--headless", "--disable-gpu", "--no-sandbox", "--no-first-run", "--no-default-browser-check",
                  "--disable-extensions", "--disable-background-networking", "--disable-component-update",
                  "--disable-sync", "--disable-default-apps", "--disable-dev-shm-usage", "--mute-audio"]


def chromium(tmp_path, url, *args, timeout=90):
    profile = tmp_path / "chromium-profile"
    profile.mkdir(exist_ok=True)
    r = subprocess.run([CHROMIUM, *CHROMIUM_FLAGS, f"--user-data-dir={profile}", *args, url],
                       capture_output=True, text=True, timeout=timeout, cwd=tmp_path)
    assert r.returncode == 0, r.stderr[-2000:]
    return r


def dump_dom(tmp_path, url):
    """The DOM as Chromium built it after loading `url` (not the bytes the server sent)."""
    return chromium(tmp_path, url, "--dump-dom").stdout


def screenshot(tmp_path, url, name="status.png"):
    path = tmp_path / name
    chromium(tmp_path, url, f"--screenshot={path}", "--window-size=900,1400", "--hide-scrollbars")
    return path


class Tables(html.parser.HTMLParser):
    """Every `<h2>` section's table rows as {section: [(th, td, td class)]}."""

    def __init__(self):
        super().__init__()
        self.sections, self.section, self.cell, self.cls, self.row = {}, None, None, None, []
        self.title = ""
        self._in_title = self._in_h2 = False

    def handle_starttag(self, tag, attrs):
        if tag == "h2":
            self._in_h2, self.section = True, ""
        elif tag == "title":
            self._in_title = True
        elif tag == "tr":
            self.row = []
        elif tag in ("th", "td"):
            self.cell = ""
            if tag == "td":
                self.cls = dict(attrs).get("class")

    def handle_endtag(self, tag):
        if tag == "h2":
            self._in_h2 = False
            self.sections[self.section] = []
        elif tag == "title":
            self._in_title = False
        elif tag in ("th", "td"):
            self.row.append(self.cell.strip())
            self.cell = None
        elif tag == "tr" and self.section is not None and len(self.row) == 2:
            self.sections[self.section].append((self.row[0], self.row[1], self.cls))

    def handle_data(self, data):
        if self._in_h2:
            self.section += data
        elif self._in_title:
            self.title += data
        elif self.cell is not None:
            self.cell += data


def tables(dom):
    p = Tables()
    p.feed(dom)
    return p


def prometheus(text):
    """{name: int} of the unlabelled samples."""
    return {k: int(v) for k, v in re.findall(r"^(pgui_[a-z_0-9]+) (-?\d+)$", text, re.M)}
