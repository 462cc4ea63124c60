"""Text tables written by other tools: their encoding, their line endings, their numbers.

Annotation files arrive from Raven Pro, Audacity, BirdNET and spreadsheets on every system. This
module reads them without losing how they were written, so that a file can be written back with
every untouched byte in place.

Encodings
    A byte-order mark decides first (UTF-8, UTF-16 LE/BE). Without one, bytes holding NULs that
    decode as UTF-16 without any are UTF-16; otherwise UTF-8 is tried strictly, then Windows-1252 (what
    Raven and Excel write on Windows). Bytes that fit none of these are refused.
Line endings
    Every line keeps its own terminator (``\\r\\n``, ``\\n`` or ``\\r``; the last line may have
    none); new lines get the file's most common one.
Numbers
    A decimal point, or a decimal comma when nothing else could be meant (``1,5``,
    ``2,500000``). Thousands separators and anything ambiguous (``1,000``, ``1.000,5``,
    ``1 000``, ``1_000``), hexadecimal, ``inf`` and ``nan`` are refused, never guessed.
"""

from __future__ import annotations

import codecs
import math
import re
from collections import Counter
from dataclasses import dataclass

_LINE = re.compile(r"([^\r\n]*)(\r\n|\r|\n|$)")
_PLAIN = re.compile(r"[+-]?(?:\d+(?:\.\d*)?|\.\d+)(?:[eE][+-]?\d+)?")
_COMMA = re.compile(r"([+-]?)(\d*),(\d+)([eE][+-]?\d+)?")


@dataclass(frozen=True)
class TextFormat:
    """How a text file was written.

    Attributes
    ----------
    encoding : str
        A Python codec name: ``"utf-8"``, ``"utf-16-le"``, ``"utf-16-be"`` or ``"cp1252"``.
    bom : bool
        The file starts with a byte-order mark.
    newline : str
        The most common line terminator, given to new lines.
    """

    encoding: str = "utf-8"
    bom: bool = False
    newline: str = "\n"

    @property
    def name(self) -> str:
        """A name for messages, e.g. ``"UTF-8 with BOM"``, ``"Windows-1252"``."""
        names = {"utf-8": "UTF-8", "utf-16-le": "UTF-16 LE", "utf-16-be": "UTF-16 BE",
                 "cp1252": "Windows-1252"}
        return names.get(self.encoding, self.encoding) + (" with BOM" if self.bom else "")


UTF8 = TextFormat()

_BOMS = (
    (codecs.BOM_UTF8, "utf-8"),
    (codecs.BOM_UTF16_LE, "utf-16-le"),
    (codecs.BOM_UTF16_BE, "utf-16-be"),
)


class TextDecodeError(ValueError):
    """The bytes are not text in any encoding this module reads."""


def decode(data: bytes) -> tuple[str, TextFormat]:
    """Text and format of a file's bytes.

    Raises
    ------
    TextDecodeError
        Not UTF-8, UTF-16 or Windows-1252 text, or text holding NUL characters (a binary
        file); the message names the first offending line.
    """
    if data.startswith(codecs.BOM_UTF32_LE) and len(data) % 4 == 0 and data[2:4] == b"\0\0":
        raise TextDecodeError("the file is UTF-32 text; save it as UTF-8 or UTF-16")
    for bom, enc in _BOMS:
        if data.startswith(bom):
            text = _strict(data[len(bom):], enc)
            return _checked(text), TextFormat(enc, True, _newline(text))
    enc = _utf16_without_bom(data)
    if enc:
        text = _strict(data, enc)
        return _checked(text), TextFormat(enc, False, _newline(text))
    for enc in ("utf-8", "cp1252"):
        try:
            text = data.decode(enc)
        except UnicodeDecodeError as exc:
            if enc == "cp1252":
                line = data.count(b"\n", 0, exc.start) + 1
                raise TextDecodeError(
                    f"line {line}: byte 0x{data[exc.start]:02x} is not text in UTF-8, UTF-16 "
                    "or Windows-1252; save the file as UTF-8 text"
                ) from None
            continue
        return _checked(text), TextFormat(enc, False, _newline(text))
    raise AssertionError("unreachable")  # pragma: no cover


def encode(text: str, fmt: TextFormat) -> bytes:
    """Bytes of ``text`` in ``fmt`` (its BOM included).

    Raises
    ------
    UnicodeEncodeError
        A character the encoding cannot hold (only possible for Windows-1252).
    """
    body = text.encode(fmt.encoding)
    if not fmt.bom:
        return body
    bom = next(b for b, e in _BOMS if e == fmt.encoding)
    return bom + body


def split_lines(text: str) -> list[tuple[str, str]]:
    """``(content, terminator)`` of every line; a final line without a terminator has ``""``.

    Only CR and LF end a line: ``str.splitlines`` would also split at characters such as
    U+2028 or a form feed, which may sit inside a label.
    """
    out = [(m.group(1), m.group(2)) for m in _LINE.finditer(text)]
    if out and out[-1] == ("", ""):
        out.pop()
    return out


def parse_number(cell: str) -> tuple[float, bool]:
    """The finite number in a cell and whether it was written with a decimal comma.

    Raises
    ------
    ValueError
        Empty, not a number, ambiguous (a thousands separator?), or not finite; the message
        says which, without the cell's position (the caller adds it).
    """
    s = cell.strip()
    if not s:
        raise ValueError("the cell is empty")
    comma = False
    m = _COMMA.fullmatch(s)
    if _PLAIN.fullmatch(s):
        value = float(s)
    elif m and not (len(m.group(3)) == 3 and re.fullmatch(r"[1-9]\d{0,2}", m.group(2))):
        # "1,5" or "2,500000" can only be decimal commas; "1,000" could be a thousand
        value, comma = float(s.replace(",", ".")), True
    elif re.fullmatch(r"[+-]?\d{1,3}([,. '_\u00a0\u202f]\d{3})+([.,]\d+)?", s):
        raise ValueError(
            f"{cell!r} is ambiguous: a thousands separator or a decimal mark? write the number "
            "without grouping and with a decimal point (e.g. 1000 or 1.5)"
        )
    else:
        raise ValueError(f"{cell!r} is not a number; write a decimal number such as 1.5")
    if not math.isfinite(value):
        raise ValueError(f"{cell!r} is not a finite number")
    return value, comma


def format_number(value: float, *, comma: bool = False) -> str:
    """Python's shortest exact representation (``repr``), with a decimal comma if asked."""
    s = repr(float(value) + 0.0)
    return s.replace(".", ",") if comma else s


def common_newline(lines: list[tuple[str, str]]) -> str:
    """The most common terminator of ``lines`` (``"\\n"`` when none has one)."""
    counts = Counter(end for _, end in lines if end)
    return counts.most_common(1)[0][0] if counts else "\n"


def _strict(data: bytes, enc: str) -> str:
    try:
        return data.decode(enc)
    except UnicodeDecodeError as exc:
        raise TextDecodeError(
            f"the file says it is {enc} (byte-order mark or layout) but byte {exc.start} is "
            f"not; save it again as UTF-8 text"
        ) from None


def _utf16_without_bom(data: bytes) -> str | None:
    """``utf-16-le``/``-be`` for NUL-holding bytes that decode as UTF-16 without NULs."""
    if len(data) < 2 or len(data) % 2 or 0 not in data[:4000]:
        return None
    head = data[:4000]
    # ASCII-heavy tables put their NULs at odd (LE) or even (BE) offsets
    order = ("utf-16-le", "utf-16-be") if head[1::2].count(0) >= head[0::2].count(0) else (
        "utf-16-be", "utf-16-le")
    for enc in order:
        try:
            text = data.decode(enc)
        except UnicodeDecodeError:
            continue
        # a table is mostly ASCII (headers, numbers, tabs) whatever its labels' script
        if "\0" not in text and sum(c < "\x80" for c in text[:2000]) > len(text[:2000]) / 2:
            return enc
    return None


def _checked(text: str) -> str:
    nul = text.find("\0")
    if nul >= 0:
        raise TextDecodeError(
            f"line {text.count(chr(10), 0, nul) + 1}: the file holds NUL characters; it is not "
            "a text table (binary data, or a broken encoding)"
        )
    return text


def _newline(text: str) -> str:
    counts = Counter(re.findall(r"\r\n|\r|\n", text[:200_000]))
    return counts.most_common(1)[0][0] if counts else "\n"
