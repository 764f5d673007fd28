"""Reading generated PDFs back in tests: text (pdftotext), pixels (pdftoppm), embedded images (pdfimages).

The poppler tools come from Debian's poppler-utils; when they are missing the test is skipped with
the reason (a failure under CI=true, see tests/fakes/externals.missing). Barcodes are measured in
pixels of a 600 dpi rendering (a 0.254 mm narrow ITF bar is about 6 px there) and decoded from the
measured widths, the way a scanner would, not by trusting what the template was given.
"""

import re
import shutil
import subprocess
import tempfile
from collections.abc import Callable
from dataclasses import dataclass
from itertools import product
from pathlib import Path

from PIL import Image, ImageChops

from tests.fakes.externals import missing

MM_PER_INCH = 25.4
DARK = 128  # gray level below which a pixel is ink


def _tool(name: str) -> str:
    path = shutil.which(name)
    if path is None:
        missing(f"{name} is not installed (Debian package poppler-utils)")
    return path


def _pages(first: int | None, last: int | None) -> list[str]:
    args = []
    if first is not None:
        args += ["-f", str(first)]
    if last is not None:
        args += ["-l", str(last)]
    return args


def _run(args: list[str]) -> subprocess.CompletedProcess:
    return subprocess.run(args, check=True, capture_output=True, timeout=60)


def pdf_text(content: bytes, *, first_page: int | None = None, last_page: int | None = None) -> str:
    """The text of the PDF as `pdftotext -layout` lays it out (UTF-8)."""
    tool = _tool("pdftotext")
    with tempfile.TemporaryDirectory(prefix="pdf-text-") as tmp:
        source = Path(tmp) / "in.pdf"
        source.write_bytes(content)
        target = Path(tmp) / "out.txt"
        _run([tool, "-layout", "-enc", "UTF-8", *_pages(first_page, last_page), str(source), str(target)])
        return target.read_text(encoding="utf-8")


def flat(text: str) -> str:
    """Whitespace (line breaks of wrapped text included) collapsed to single spaces."""
    return " ".join(text.split())


def page_count(content: bytes) -> int:
    tool = _tool("pdfinfo")
    with tempfile.TemporaryDirectory(prefix="pdf-info-") as tmp:
        source = Path(tmp) / "in.pdf"
        source.write_bytes(content)
        out = _run([tool, str(source)]).stdout.decode()
    return int(re.search(r"^Pages:\s+(\d+)$", out, re.MULTILINE).group(1))


def rasterise(content: bytes, page: int, *, dpi: int = 600,
              area: tuple[int, int, int, int] | None = None) -> Image.Image:
    """One page as an 8-bit grayscale image (`pdftoppm -r DPI -gray`); `area` = (x, y, width, height) in
    pixels at that resolution renders only that part (a whole A4 page at 600 dpi takes seconds)."""
    tool = _tool("pdftoppm")
    crop = []
    if area is not None:
        crop = ["-x", str(area[0]), "-y", str(area[1]), "-W", str(area[2]), "-H", str(area[3])]
    with tempfile.TemporaryDirectory(prefix="pdf-raster-") as tmp:
        source = Path(tmp) / "in.pdf"
        source.write_bytes(content)
        _run([tool, "-r", str(dpi), "-gray", "-png", "-singlefile", *crop, *_pages(page, page), str(source),
              str(Path(tmp) / "page")])
        with Image.open(Path(tmp) / "page.png") as image:
            return image.convert("L")


@dataclass(frozen=True)
class EmbeddedImage:
    page: int
    width: int  # pixels
    height: int
    x_ppi: int  # as placed on the page: printed width = width / x_ppi inches
    y_ppi: int
    image: Image.Image


def embedded_images(content: bytes, *, page: int | None = None) -> list[EmbeddedImage]:
    """The raster images a page carries (`pdfimages -list` for placement, `pdfimages -png` for the pixels)."""
    tool = _tool("pdfimages")
    with tempfile.TemporaryDirectory(prefix="pdf-images-") as tmp:
        source = Path(tmp) / "in.pdf"
        source.write_bytes(content)
        listing = _run([tool, "-list", *_pages(page, page), str(source)]).stdout.decode()
        _run([tool, "-png", *_pages(page, page), str(source), str(Path(tmp) / "img")])
        files = sorted(Path(tmp).glob("img-*.png"))
        rows = [line.split() for line in listing.splitlines()[2:] if line.strip()]
        found = []
        for row, path in zip(rows, files, strict=True):
            # page num type width height color comp bpc enc interp object ID x-ppi y-ppi size ratio
            with Image.open(path) as image:
                pixels = image.convert("L")
            found.append(EmbeddedImage(page=int(row[0]), width=int(row[3]), height=int(row[4]),
                                       x_ppi=int(row[12]), y_ppi=int(row[13]), image=pixels))
        return found


def rejoin_wrapped(pieces: list[str], accept: Callable[[str], bool]) -> list[str]:
    """Every reading of text that wrapped over lines that `accept` approves: the first k pieces (the block
    may be followed by other text), joined with or without a space at each break (a wrap may have eaten one)."""
    results = []
    for count in range(1, len(pieces) + 1):
        head = pieces[:count]
        for joins in product(("", " "), repeat=count - 1):
            text = head[0] + "".join(j + p for j, p in zip(joins, head[1:], strict=True))
            if accept(text):
                results.append(text)
    return results


def wrapped_blocks_starting(text: str, start: str, *, max_lines: int = 8) -> list[list[str]]:
    """Every wrapped block that begins with `start` somewhere in a line: from there to the line's end, then the
    next lines up to a blank one, stripped. Several when `start` also occurs inside other text (a Pix payload
    begins "000201"; so may a nosso número such as 109/00020101-0)."""
    lines = text.splitlines()
    blocks = []
    for index, line in enumerate(lines):
        at = line.find(start)
        while at >= 0:
            pieces = [line[at:].strip()]
            for following in lines[index + 1 : index + max_lines]:
                if not following.strip():
                    break
                pieces.append(following.strip())
            blocks.append(pieces)
            at = line.find(start, at + 1)
    if not blocks:
        raise AssertionError(f"{start!r} does not occur in the text")
    return blocks


# ---------------------------------------------------------------- barcodes measured in pixels

def _ink(image: Image.Image) -> Image.Image:
    """255 where there is ink, 0 elsewhere."""
    return image.point(lambda v: 255 if v < DARK else 0)


def _transitions_per_row(ink: Image.Image) -> list[float]:
    """How many ink/paper changes each row has (computed in C by Pillow: a 600 dpi page is 35 M pixels)."""
    width, height = ink.size
    changes = ImageChops.difference(ink.crop((0, 0, width - 1, height)), ink.crop((1, 0, width, height)))
    means = changes.convert("F").reduce((width - 1, 1))
    return [means.getpixel((0, y)) * (width - 1) / 255 for y in range(height)]


def row_runs(ink: Image.Image, y: int) -> list[tuple[bool, int, int]]:
    """The row as runs (is_ink, start x, width in px)."""
    row = ink.crop((0, y, ink.width, y + 1)).tobytes()
    runs = []
    start = 0
    for x in range(1, len(row) + 1):
        if x == len(row) or row[x] != row[start]:
            runs.append((row[start] == 255, start, x - start))
            start = x
    return runs


def longest_alternation(runs: list[tuple[bool, int, int]], max_run_px: int) -> list[tuple[bool, int, int]]:
    """The longest stretch of runs each at most `max_run_px` wide, starting and ending on ink (a barcode
    without its quiet zones: those, like the gaps between words, are wider)."""
    best: list = []
    current: list = []
    for run in runs + [(False, 0, max_run_px + 1)]:
        if run[2] <= max_run_px:
            current.append(run)
            continue
        while current and not current[0][0]:
            current.pop(0)
        while current and not current[-1][0]:
            current.pop()
        if len(current) > len(best):
            best = current
        current = []
    return best


@dataclass(frozen=True)
class MeasuredBarcode:
    row: int  # the pixel row that was decoded
    runs: list[tuple[bool, int, int]]  # (is_bar, x, width px), first bar to last bar
    left: int  # x of the first bar's left edge
    right: int  # x just after the last bar
    top: int  # first row of the bars (measured down the widest bar)
    bottom: int  # one past the last row
    quiet_left: int  # paper before the first bar, px
    quiet_right: int
    dpi: int

    def mm(self, pixels: int) -> float:
        return pixels / self.dpi * MM_PER_INCH

    @property
    def width_mm(self) -> float:
        return self.mm(self.right - self.left)

    @property
    def height_mm(self) -> float:
        return self.mm(self.bottom - self.top)

    def widths(self) -> list[tuple[bool, float]]:
        return [(is_bar, float(width)) for is_bar, _, width in self.runs]


def _busiest_band(counts: list[float], share: float) -> tuple[int, int]:
    """The rows around the one with the most transitions that keep at least `share` of them: [top, bottom]."""
    peak = max(counts)
    top = bottom = counts.index(peak)
    while top > 0 and counts[top - 1] >= share * peak:
        top -= 1
    while bottom + 1 < len(counts) and counts[bottom + 1] >= share * peak:
        bottom += 1
    return top, bottom


def barcode_on_page(content: bytes, page: int, *, dpi: int = 600, preview_dpi: int = 100) -> MeasuredBarcode:
    """Find the barcode band on a quick `preview_dpi` rendering of the whole page, then render that band
    (full width, 4 mm above and below) at `dpi` and measure the symbol there."""
    preview = rasterise(content, page, dpi=preview_dpi)
    top, bottom = _busiest_band(_transitions_per_row(_ink(preview)), 0.5)
    scale = dpi / preview_dpi
    margin = round(4 / MM_PER_INCH * dpi)
    y = max(0, round(top * scale) - margin)
    height = round((bottom + 1) * scale) + margin - y
    band = rasterise(content, page, dpi=dpi, area=(0, y, round(preview.width * scale), height))
    return find_barcode(band, dpi=dpi)


def find_barcode(image: Image.Image, *, dpi: int, min_runs: int = 100) -> MeasuredBarcode:
    """The linear barcode on a page: the rows with the most ink/paper changes, the longest alternation of
    narrow runs along the middle one of them, and the symbol's extent in pixels."""
    ink = _ink(image)
    counts = _transitions_per_row(ink)
    peak = max(counts)
    if peak < 2 * min_runs:
        raise AssertionError(f"no row has a barcode's number of transitions (most: {peak:.0f})")
    top, bottom = _busiest_band(counts, 0.9)  # the rows through the bars
    y = (top + bottom) // 2
    runs = row_runs(ink, y)
    stretch = longest_alternation(runs, max_run_px=round(1.5 * dpi / MM_PER_INCH))  # nothing wider than 1.5 mm
    if len(stretch) < min_runs:
        raise AssertionError(f"row {y}: only {len(stretch)} alternating runs")
    left = stretch[0][1]
    right = stretch[-1][1] + stretch[-1][2]
    index = runs.index(stretch[0])
    quiet_left = runs[index - 1][2] if index > 0 and not runs[index - 1][0] else 0
    after = runs.index(stretch[-1]) + 1
    quiet_right = runs[after][2] if after < len(runs) and not runs[after][0] else 0
    # The height, measured down the middle of the widest bar (the stop pattern's wide bar is one).
    _, x, width = max((r for r in stretch if r[0]), key=lambda r: r[2])
    column = ink.crop((x + width // 2, 0, x + width // 2 + 1, ink.height)).tobytes()
    bar_top = y
    while bar_top > 0 and column[bar_top - 1] == 255:
        bar_top -= 1
    bar_bottom = y
    while bar_bottom < len(column) and column[bar_bottom] == 255:
        bar_bottom += 1
    return MeasuredBarcode(row=y, runs=stretch, left=left, right=right, top=bar_top, bottom=bar_bottom,
                           quiet_left=quiet_left, quiet_right=quiet_right, dpi=dpi)


# ---------------------------------------------------------------- QR codes (no decoder: the module grid)

def qr_modules(image: Image.Image, border: int) -> list[list[bool]]:
    """The dark/light module grid of a QR image drawn one module per `image.width / (size + 2 × border)` px."""
    ink = _ink(image)
    sizes = [size for size in range(21, 178, 4) if ink.width % (size + 2 * border) == 0]  # versions 1–40
    if ink.width != ink.height or len(sizes) != 1:
        raise AssertionError(f"a {ink.width}×{ink.height} image is no QR symbol with a {border}-module border")
    size = sizes[0]
    scale = ink.width // (size + 2 * border)
    offset = border * scale + scale // 2
    return [[ink.getpixel((offset + c * scale, offset + r * scale)) == 255 for c in range(size)]
            for r in range(size)]


_FORMAT_MASK = 0b101010000010010
_EC_LEVELS = {0b01: "L", 0b00: "M", 0b11: "Q", 0b10: "H"}


def qr_format(modules: list[list[bool]]) -> tuple[str, int]:
    """The error correction level and mask read from the format information beside the top-left finder
    (ISO/IEC 18004, 7.9): 15 bits, XOR-masked with 101010000010010, BCH-checked."""
    cells = [(8, c) for c in (0, 1, 2, 3, 4, 5, 7, 8)] + [(r, 8) for r in (7, 5, 4, 3, 2, 1, 0)]
    bits = 0
    for r, c in cells:  # bit 14 first
        bits = (bits << 1) | int(modules[r][c])
    bits ^= _FORMAT_MASK
    data, check = bits >> 10, bits
    generator = 0b10100110111
    remainder = data << 10
    for shift in range(4, -1, -1):
        if remainder & (1 << (shift + 10)):
            remainder ^= generator << shift
    if (data << 10 | remainder) != check:
        raise AssertionError("the QR format information fails its BCH check")
    return _EC_LEVELS[data >> 3], data & 0b111
