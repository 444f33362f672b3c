"""Static decoders: undo the encodings code uses to hide a payload, without running anything.

Every function takes a constant (``str`` or ``bytes``) and returns the decoded constant,
or raises `UndecodableError` (the caller then treats the value as unknown but still *decoded*).
Decompressors are bounded by `MAX_DECODED`: a zlib bomb yields `TooLargeError`, which the
analyzer turns into a ``code.limit`` escalation instead of allocating gigabytes.
"""

from __future__ import annotations

import base64
import binascii
import bz2
import codecs
import html
import lzma
import quopri
import zlib
from collections.abc import Callable
from urllib.parse import unquote, unquote_plus, unquote_to_bytes

__all__ = ["DECODERS", "ENCODERS", "MAX_DECODED", "TooLargeError", "UndecodableError", "codec_decode", "to_bytes"]

#: Largest decoded output we materialize (bytes).
MAX_DECODED = 256 * 1024


class UndecodableError(ValueError):
    """The constant is not valid input for the decoder (the program would raise too)."""


class TooLargeError(UndecodableError):
    """Decoding would produce more than `MAX_DECODED` bytes."""


def to_bytes(v: str | bytes) -> bytes:
    """Decoder input as bytes (the stdlib decoders accept ASCII str as well)."""
    if isinstance(v, bytes):
        return v
    try:
        return v.encode("ascii")
    except UnicodeEncodeError as e:
        raise UndecodableError("non-ASCII input") from e


def _b64(v: str | bytes) -> bytes:
    b = to_bytes(v)
    try:
        # binascii ignores non-alphabet characters the way b64decode(validate=False) does
        return base64.b64decode(b + b"=" * (-len(b.strip()) % 4))
    except (binascii.Error, ValueError) as e:
        raise UndecodableError(str(e)) from e


def _wrap(fn: Callable[[bytes], bytes]) -> Callable[[str | bytes], bytes]:
    def dec(v: str | bytes) -> bytes:
        try:
            return fn(to_bytes(v))
        except (binascii.Error, ValueError, TypeError) as e:
            raise UndecodableError(str(e)) from e

    return dec


def _bounded(make: Callable[[], object]) -> Callable[[str | bytes], bytes]:
    """A streaming decompressor asked for at most MAX_DECODED + 1 bytes."""

    def dec(v: str | bytes) -> bytes:
        d = make()
        try:
            out: bytes = d.decompress(to_bytes(v), MAX_DECODED + 1)  # type: ignore[attr-defined]
        except (zlib.error, OSError, EOFError, lzma.LZMAError, ValueError) as e:
            raise UndecodableError(str(e)) from e
        if len(out) > MAX_DECODED:
            raise TooLargeError(f"decompresses to more than {MAX_DECODED} bytes")
        return out

    return dec


def _rot13(v: str | bytes) -> str:
    s = v.decode("latin-1") if isinstance(v, bytes) else v
    return codecs.decode(s, "rot13")


def _hex(v: str | bytes) -> bytes:
    s = v.decode("latin-1") if isinstance(v, bytes) else v
    try:
        return bytes.fromhex(s)
    except ValueError:
        return _wrap(binascii.unhexlify)(v)


def _unicode_escape(v: str | bytes) -> str:
    b = v if isinstance(v, bytes) else v.encode("latin-1", "backslashreplace")
    try:
        return b.decode("unicode_escape")
    except UnicodeDecodeError as e:
        raise UndecodableError(str(e)) from e


_zlib = _bounded(lambda: zlib.decompressobj(zlib.MAX_WBITS | 32))  # zlib or gzip header, auto-detected
_raw_deflate = _bounded(lambda: zlib.decompressobj(-zlib.MAX_WBITS))


def _zlib_any(v: str | bytes) -> bytes:
    try:
        return _zlib(v)
    except TooLargeError:
        raise
    except UndecodableError:
        return _raw_deflate(v)


#: Qualified function name -> decoder. Names are canonical (see ``_python._CANON``).
DECODERS: dict[str, Callable[[str | bytes], str | bytes]] = {
    **dict.fromkeys(
        (
            "base64.b64decode",
            "base64.standard_b64decode",
            "base64.decodebytes",
            "base64.decodestring",
            "binascii.a2b_base64",
        ),
        _b64,
    ),
    "base64.urlsafe_b64decode": lambda v: _b64(to_bytes(v).replace(b"-", b"+").replace(b"_", b"/")),
    "base64.b32decode": _wrap(lambda b: base64.b32decode(b, casefold=True)),
    "base64.b32hexdecode": _wrap(lambda b: base64.b32hexdecode(b, casefold=True)),
    "base64.b16decode": _wrap(lambda b: base64.b16decode(b, casefold=True)),
    "base64.b85decode": _wrap(base64.b85decode),
    "base64.a85decode": _wrap(base64.a85decode),
    **dict.fromkeys(("binascii.unhexlify", "binascii.a2b_hex", "bytes.fromhex", "bytearray.fromhex"), _hex),
    **dict.fromkeys(("zlib.decompress", "gzip.decompress"), _zlib_any),
    "bz2.decompress": _bounded(bz2.BZ2Decompressor),
    "lzma.decompress": _bounded(lzma.LZMADecompressor),
    "quopri.decodestring": _wrap(quopri.decodestring),
    "urllib.parse.unquote": lambda v: unquote(v.decode("latin-1") if isinstance(v, bytes) else v),
    "urllib.parse.unquote_plus": lambda v: unquote_plus(v.decode("latin-1") if isinstance(v, bytes) else v),
    "urllib.parse.unquote_to_bytes": lambda v: unquote_to_bytes(v),
    "html.unescape": lambda v: html.unescape(v.decode("latin-1") if isinstance(v, bytes) else v),
}

#: Encoders fold too: decode(encode(x)) chains are a way to spell x.
ENCODERS: dict[str, Callable[[bytes], bytes]] = {
    "base64.b64encode": base64.b64encode,
    "base64.standard_b64encode": base64.standard_b64encode,
    "base64.urlsafe_b64encode": base64.urlsafe_b64encode,
    "base64.encodebytes": base64.encodebytes,
    "base64.b32encode": base64.b32encode,
    "base64.b16encode": base64.b16encode,
    "base64.b85encode": base64.b85encode,
    "base64.a85encode": base64.a85encode,
    "binascii.hexlify": binascii.hexlify,
    "binascii.b2a_hex": binascii.b2a_hex,
    "binascii.b2a_base64": binascii.b2a_base64,
    "zlib.compress": zlib.compress,
}

# codecs.decode(x, NAME) / bytes.decode(NAME): the transforming codecs, by normalized name.
_CODECS: dict[str, Callable[[str | bytes], str | bytes]] = {
    "rot13": _rot13,
    "rot_13": _rot13,
    "hex": _hex,
    "hex_codec": _hex,
    "base64": _b64,
    "base_64": _b64,
    "base64_codec": _b64,
    "zlib": _zlib_any,
    "zip": _zlib_any,
    "zlib_codec": _zlib_any,
    "bz2": DECODERS["bz2.decompress"],
    "bz2_codec": DECODERS["bz2.decompress"],
    "unicode_escape": _unicode_escape,
    "raw_unicode_escape": _unicode_escape,
    "quopri": DECODERS["quopri.decodestring"],
    "quopri_codec": DECODERS["quopri.decodestring"],
    "quotedprintable": DECODERS["quopri.decodestring"],
}


def codec_decode(v: str | bytes, name: str) -> tuple[str | bytes, bool]:
    """``codecs.decode(v, name)`` / ``v.decode(name)``: (result, whether it was a transforming codec)."""
    norm = name.lower().replace("-", "_").replace(" ", "_")
    fn = _CODECS.get(norm)
    if fn is not None:
        return fn(v), True
    if isinstance(v, str):
        raise UndecodableError("str has no decode")
    try:
        return v.decode(norm), False
    except (LookupError, UnicodeDecodeError) as e:
        raise UndecodableError(str(e)) from e
