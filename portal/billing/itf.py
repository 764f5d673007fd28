"""ITF (interleaved 2 of 5) for the boleto's 44-digit barcode (specs/boleto.md, Rendering): SVG and a decoder. Pure."""

# Pure by rule 1: no Flask, no database. The SVG is drawn in modules (1 module = one narrow element) and
# scaled to millimetres by its viewBox, so every bar edge sits on an exact multiple of
# width_mm / total modules no matter how the PDF renderer rounds.
#
# Encoding. Each digit is five elements, exactly two of them wide (W = 3 modules, n = 1 module):
#
#     digit  elements      digit  elements
#       0     n n W W n      5     W n W n n
#       1     W n n n W      6     n W W n n
#       2     n W n n W      7     n n n W W
#       3     W W n n n      8     W n n W n
#       4     n n W n W      9     n W n W n
#
# Digits go in pairs: the first digit of a pair is drawn by the five bars, the second by the five
# spaces between them, interleaved bar, space, bar, space, … (hence an even digit count). A digit is
# 2×3 + 3×1 = 9 modules, a pair 18. The symbol is: start `NnNn` (bar, space, bar, space, all narrow),
# the pairs, stop `WnN` (wide bar, narrow space, narrow bar). No check digit is appended: the boleto's
# general DV is already inside the 44 digits. 44 digits → 4 + 22 × 18 + 5 = 405 modules, drawn over
# 103 mm (narrow ≈ 0.2543 mm) × 13 mm, with a quiet zone of at least 5 mm on each side.

import math
import string

__all__ = ["PATTERNS", "decode_itf_runs", "itf_modules", "itf_svg"]

NARROW = 1  # modules
WIDE = 3  # modules (wide:narrow 3:1)
MIN_QUIET_MM = 5.0

# True = wide element; index = digit.
PATTERNS: tuple[tuple[bool, ...], ...] = tuple(
    tuple(c == "W" for c in p)
    for p in ("nnWWn", "WnnnW", "nWnnW", "WWnnn", "nnWnW", "WnWnn", "nWWnn", "nnnWW", "WnnWn", "nWnWn")
)
_DIGIT_OF_PATTERN = {pattern: str(digit) for digit, pattern in enumerate(PATTERNS)}

_START = ((True, NARROW), (False, NARROW), (True, NARROW), (False, NARROW))
_STOP = ((True, WIDE), (False, NARROW), (True, NARROW))


def _check_digits(digits: object) -> str:
    if not isinstance(digits, str):
        raise TypeError(f"digits must be a str, got {type(digits).__name__}")
    if not digits or len(digits) % 2 or not all(c in string.digits for c in digits):
        raise ValueError(f"ITF encodes a non-empty, even number of digits (0-9), got {digits!r}")
    return digits


def itf_modules(digits: str) -> list[tuple[bool, int]]:
    """The symbol as runs (is_bar, width in modules), bars and spaces alternating, start and stop included."""
    _check_digits(digits)
    runs = list(_START)
    for i in range(0, len(digits), 2):
        bars, spaces = PATTERNS[int(digits[i])], PATTERNS[int(digits[i + 1])]
        for bar_wide, space_wide in zip(bars, spaces, strict=True):
            runs.append((True, WIDE if bar_wide else NARROW))
            runs.append((False, WIDE if space_wide else NARROW))
    runs.extend(_STOP)
    return runs


def _num(value: float) -> str:
    """A short, exact-enough SVG number: at most 6 decimals, no trailing zeros, never '-0'."""
    text = f"{value:.6f}".rstrip("0").rstrip(".")
    return "0" if text in ("-0", "") else text


def itf_svg(digits: str, *, width_mm: float = 103.0, height_mm: float = 13.0, quiet_mm: float = 5.0) -> str:
    """A standalone SVG of the symbol: `width_mm` of bars plus `quiet_mm` of white on each side, `height_mm` tall.

    The width attribute is width_mm + 2 × quiet_mm (113mm by default); the bars are one <path> in module units.
    """
    runs = itf_modules(digits)
    for name, value in (("width_mm", width_mm), ("height_mm", height_mm), ("quiet_mm", quiet_mm)):
        if isinstance(value, bool) or not isinstance(value, int | float):
            raise TypeError(f"{name} must be a number of millimetres, got {type(value).__name__}")
        if not math.isfinite(value):
            raise ValueError(f"{name} must be finite, got {value}")
    if not width_mm > 0 or not height_mm > 0:
        raise ValueError(f"width_mm and height_mm must be positive, got {width_mm} × {height_mm}")
    if not quiet_mm >= MIN_QUIET_MM:
        raise ValueError(f"quiet_mm must be at least {MIN_QUIET_MM} mm, got {quiet_mm}")

    modules = sum(width for _, width in runs)  # 405 for 44 digits
    module_mm = width_mm / modules
    quiet = quiet_mm / module_mm  # in modules; not a whole number (≈ 19.66 at the defaults)
    height = height_mm / module_mm
    # All bars are ONE path (a closed rectangle per bar): the same geometry as a <rect> per bar, but one
    # element for the PDF renderer to style and draw instead of 115 (a tenth of a boleto page's render).
    bars = []
    x = 0
    for is_bar, width in runs:
        if is_bar:
            bars.append(f"M{x} 0h{width}v{_num(height)}h-{width}z")
        x += width
    # preserveAspectRatio="none": the viewBox maps onto the mm box exactly, so rounding the
    # fractional quiet zone and height to 6 decimals cannot shift the bars.
    return (
        '<svg xmlns="http://www.w3.org/2000/svg" version="1.1"'
        f' width="{_num(width_mm + 2 * quiet_mm)}mm" height="{_num(height_mm)}mm"'
        f' viewBox="{_num(-quiet)} 0 {_num(modules + 2 * quiet)} {_num(height)}"'
        ' preserveAspectRatio="none" shape-rendering="crispEdges">'
        f'<rect x="{_num(-quiet)}" y="0" width="{_num(modules + 2 * quiet)}" height="{_num(height)}" fill="#fff"/>'
        f'<path fill="#000" d="{"".join(bars)}"/>'
        "</svg>"
    )


# --- decoding measured widths (tests read rendered barcodes back with this) -------------------------------


def _threshold(widths: list[float]) -> float:
    """Split widths into narrow and wide: two-means clustering, started at the midpoint of min and max."""
    low, high = min(widths), max(widths)
    if high < 1.5 * low:
        raise ValueError("ITF runs show no narrow/wide contrast")
    threshold = (low + high) / 2
    for _ in range(50):
        narrow = [w for w in widths if w < threshold]
        wide = [w for w in widths if w >= threshold]
        new = (sum(narrow) / len(narrow) + sum(wide) / len(wide)) / 2
        if new == threshold:
            break
        threshold = new
    return threshold


def decode_itf_runs(runs: list[tuple[bool, float]]) -> str:
    """The digits of measured ITF runs (is_bar, width at any scale), starting at the first bar after the quiet zone.

    A trailing space (the right quiet zone) is ignored. Bars and spaces are classified narrow or wide
    separately (printing spreads ink: bars come out wider, spaces narrower), each by a threshold
    between its own measured widths. Raises ValueError when the runs are not one ITF symbol.
    """
    runs = list(runs)
    if runs and not runs[-1][0]:
        runs = runs[:-1]
    if len(runs) < 17 or (len(runs) - 7) % 10:
        raise ValueError(f"{len(runs)} runs cannot be ITF (start 4 + 10 per digit pair + stop 3)")
    for i, (is_bar, width) in enumerate(runs):
        if is_bar != (i % 2 == 0):
            raise ValueError(f"run {i} should be a {'bar' if i % 2 == 0 else 'space'}: runs must alternate")
        if not width > 0:
            raise ValueError(f"run {i} has width {width}; widths must be positive")
    bar_threshold = _threshold([w for is_bar, w in runs if is_bar])
    space_threshold = _threshold([w for is_bar, w in runs if not is_bar])
    wide = [w >= (bar_threshold if is_bar else space_threshold) for is_bar, w in runs]

    if wide[:4] != [False] * 4:
        raise ValueError("bad ITF start pattern (expected narrow bar, space, bar, space)")
    if wide[-3:] != [True, False, False]:
        raise ValueError("bad ITF stop pattern (expected wide bar, narrow space, narrow bar)")
    digits = []
    for start in range(4, len(runs) - 3, 10):
        chunk = wide[start : start + 10]
        for pattern in (tuple(chunk[0::2]), tuple(chunk[1::2])):
            digit = _DIGIT_OF_PATTERN.get(pattern)
            if digit is None:
                shown = "".join("W" if w else "n" for w in pattern)
                raise ValueError(f"{shown} at run {start} is not an ITF digit (needs exactly two wide of five)")
            digits.append(digit)
    return "".join(digits)
