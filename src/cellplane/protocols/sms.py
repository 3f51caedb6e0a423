"""SMS text rules: which alphabet a text needs, its length in that alphabet, whether one SMS carries it.

One SMS carries 140 octets of user data (TS 23.040 §9.2.3.24, TP-User-Data): 160 characters of the GSM
7-bit default alphabet packed as septets, or 70 UTF-16 code units in UCS-2 (TS 23.038 §6.2.3). A text
whose every character is in the default alphabet or its extension table (TS 23.038 §6.2.1, §6.2.1.1) is
sent in GSM 7-bit, where an extension character costs two septets (the escape 0x1B, then its code); any
other character makes the whole text UCS-2 (in practice UTF-16: a character outside the Basic Multilingual
Plane takes two code units, a surrogate pair). Binary content is sent as 8-bit data instead: 140 octets, as
they are. A `ShortMessage` is either: text (`str`) or 8-bit data (`bytes`). The TP-Data-Coding-Scheme says
which (TS 23.038 §4, `data_coding` / `alphabet_of`), and `encode_user_data` / `decode_user_data` turn a
message into the TP-User-Data-Length and TP-User-Data it travels as and back. `pack_gsm7` gives the packed
octets of a text; `RpCause` the reasons a network refuses an SMS.
"""

from __future__ import annotations

from dataclasses import dataclass
from enum import IntEnum, StrEnum

# TS 23.038 §6.2.1: the default alphabet in code order, 0x00 to 0x7F (0x1B is the escape to the extension table).
_DEFAULT = (
    "@£$¥èéùìòÇ\nØø\rÅå"
    "Δ_ΦΓΛΩΠΨΣΘΞ\x1bÆæßÉ"
    " !\"#¤%&'()*+,-./"
    "0123456789:;<=>?"
    "¡ABCDEFGHIJKLMNO"
    "PQRSTUVWXYZÄÖÑÜ§"
    "¿abcdefghijklmno"
    "pqrstuvwxyzäöñüà"
)
ESCAPE = 0x1B
# TS 23.038 §6.2.1.1: the extension table's characters and their codes (each sent after ESCAPE).
_EXTENSION = {"\f": 0x0A, "^": 0x14, "{": 0x28, "}": 0x29, "\\": 0x2F}
_EXTENSION |= {"[": 0x3C, "~": 0x3D, "]": 0x3E, "|": 0x40, "€": 0x65}
_CODES = {char: code for code, char in enumerate(_DEFAULT) if code != ESCAPE}

USER_DATA_OCTETS = 140  # TS 23.040 §9.2.3.24: TP-User-Data of one SMS, no user data header
GSM7_MAX = USER_DATA_OCTETS * 8 // 7  # 160 septets
UCS2_MAX = USER_DATA_OCTETS // 2  # 70 UTF-16 code units


class RpCause(IntEnum):
    """Why a network refuses a short message (TS 24.011 §8.2.5.4, Table 8.4: the RP-ERROR's RP-Cause)."""

    OPERATOR_DETERMINED_BARRING = 8
    UNKNOWN_SUBSCRIBER = 30
    NETWORK_OUT_OF_ORDER = 38
    TEMPORARY_FAILURE = 41
    REQUESTED_FACILITY_NOT_SUBSCRIBED = 50
    REQUESTED_FACILITY_NOT_IMPLEMENTED = 69
    INVALID_MANDATORY_INFORMATION = 96

    @property
    def text(self) -> str:
        return self.name.replace("_", " ").capitalize()


class Alphabet(StrEnum):
    """The character sets of the TP-Data-Coding-Scheme (TS 23.038 §4): two for text, one for 8-bit data."""

    GSM7 = "gsm7"
    UCS2 = "ucs2"
    DATA8 = "8bit"


# The user data of one SMS: text (GSM 7-bit or UCS-2, as `alphabet` decides), or 8-bit data.
ShortMessage = str | bytes

# TS 23.038 §4, the general data coding group (bits 7..6 = 00, uncompressed, no message class): bits 3..2 are
# the character set. These are the values a sender uses.
_DCS = {Alphabet.GSM7: 0x00, Alphabet.DATA8: 0x04, Alphabet.UCS2: 0x08}
_CHARSETS = {0: Alphabet.GSM7, 1: Alphabet.DATA8, 2: Alphabet.UCS2}


@dataclass(frozen=True, slots=True)
class TextSize:
    """A text measured for SMS: its alphabet, its length in that alphabet's units, and the one-SMS limit."""

    alphabet: Alphabet
    length: int  # septets (GSM 7-bit) or UTF-16 code units (UCS-2)
    limit: int  # what one SMS carries in that alphabet

    @property
    def fits(self) -> bool:
        return self.length <= self.limit

    @property
    def unit(self) -> str:
        if self.alphabet == Alphabet.DATA8:
            return "bytes of 8-bit data"
        return "characters of the GSM 7-bit alphabet" if self.alphabet == Alphabet.GSM7 else "UCS-2 characters"


@dataclass(frozen=True, slots=True)
class UserData:
    """One SMS's content as it travels: TP-DCS, TP-UDL (septets for GSM 7-bit, else octets), TP-UD."""

    dcs: int
    length: int
    octets: bytes


def alphabet(text: str) -> Alphabet:
    """GSM 7-bit when every character is in the default alphabet or its extension table, else UCS-2."""
    return Alphabet.GSM7 if all(char in _CODES or char in _EXTENSION for char in text) else Alphabet.UCS2


def measure(text: ShortMessage) -> TextSize:
    """The alphabet `text` needs and its length in it (an extension character counts two septets; 8-bit data
    counts its octets)."""
    if isinstance(text, bytes):
        return TextSize(Alphabet.DATA8, len(text), USER_DATA_OCTETS)
    if alphabet(text) == Alphabet.GSM7:
        return TextSize(Alphabet.GSM7, len(text) + sum(1 for char in text if char in _EXTENSION), GSM7_MAX)
    return TextSize(Alphabet.UCS2, len(text.encode("utf-16-be")) // 2, UCS2_MAX)


def septets(text: str) -> list[int]:
    """The GSM 7-bit codes of `text`, extension characters as ESCAPE + code; ValueError if it needs UCS-2."""
    codes: list[int] = []
    for char in text:
        code = _CODES.get(char)
        if code is not None:
            codes.append(code)
        elif char in _EXTENSION:
            codes += (ESCAPE, _EXTENSION[char])
        else:
            raise ValueError(f"{char!r} is not in the GSM 7-bit alphabet")
    return codes


def pack_gsm7(text: str) -> bytes:
    """The septets of `text` packed into octets, least significant bit first (TS 23.038 §6.1.2.1.1)."""
    value = 0
    for index, code in enumerate(septets(text)):
        value |= code << (7 * index)
    count = len(text) + sum(1 for char in text if char in _EXTENSION)
    return value.to_bytes((count * 7 + 7) // 8, "little")


def unpack_gsm7(data: bytes, count: int) -> str:
    """`count` septets packed in `data`, back to text (the inverse of pack_gsm7)."""
    by_code = {code: char for char, code in _CODES.items()}
    by_extension = {code: char for char, code in _EXTENSION.items()}
    value = int.from_bytes(data, "little")
    chars: list[str] = []
    escaped = False
    for index in range(count):
        code = (value >> (7 * index)) & 0x7F
        if escaped:
            # TS 23.038 §6.2.1.1: an unknown extension code shows as the default alphabet's character.
            chars.append(by_extension.get(code, by_code.get(code, " ")))
            escaped = False
        elif code == ESCAPE:
            escaped = True
        else:
            chars.append(by_code[code])
    return "".join(chars)


def alphabet_of(message: ShortMessage) -> Alphabet:
    """8-bit data for bytes, else the alphabet the text needs."""
    return Alphabet.DATA8 if isinstance(message, bytes) else alphabet(message)


def data_coding(message: ShortMessage) -> int:
    """The TP-DCS a sender gives `message` (TS 23.038 §4): 0x00 GSM 7-bit, 0x04 8-bit data, 0x08 UCS-2."""
    return _DCS[alphabet_of(message)]


def dcs_alphabet(dcs: int) -> Alphabet:
    """The alphabet a received TP-DCS names (TS 23.038 §4); ValueError for compressed or reserved codings.

    00xx / 01xx (general, and marked for automatic deletion): bit 5 compressed, bits 3..2 the character set
    (11 reserved); 1100 / 1101 (message waiting, discard or store): GSM 7-bit; 1110 (store): UCS-2;
    1111 (data coding / message class): bit 2, 0 GSM 7-bit or 1 8-bit data; 1000..1011 are reserved.
    """
    if not 0 <= dcs <= 0xFF:
        raise ValueError(f"TP-DCS is one octet, not {dcs}")
    group = dcs >> 4
    if group <= 0b0111:
        if dcs & 0x20:
            raise ValueError(f"TP-DCS 0x{dcs:02X} is a compressed coding (TS 23.042), which is not supported")
        charset = _CHARSETS.get((dcs >> 2) & 0b11)
        if charset is None:
            raise ValueError(f"TP-DCS 0x{dcs:02X} names a reserved character set")
        return charset
    if group in (0b1100, 0b1101):
        return Alphabet.GSM7
    if group == 0b1110:
        return Alphabet.UCS2
    if group == 0b1111:
        return Alphabet.DATA8 if dcs & 0x04 else Alphabet.GSM7
    raise ValueError(f"TP-DCS 0x{dcs:02X} is in a reserved coding group")


def encode_user_data(message: ShortMessage) -> UserData:
    """`message` as TP-DCS, TP-UDL and TP-UD; ValueError when one SMS cannot carry it."""
    size = measure(message)
    if not size.fits:
        raise ValueError(f"{size.length} {size.unit} do not fit one SMS (at most {size.limit})")
    if isinstance(message, bytes):
        return UserData(_DCS[Alphabet.DATA8], len(message), bytes(message))
    if size.alphabet == Alphabet.GSM7:
        return UserData(_DCS[Alphabet.GSM7], size.length, pack_gsm7(message))
    octets = message.encode("utf-16-be")
    return UserData(_DCS[Alphabet.UCS2], len(octets), octets)


def decode_user_data(data: UserData) -> ShortMessage:
    """The message TP-DCS, TP-UDL and TP-UD carry: text, or bytes for 8-bit data (the inverse of
    encode_user_data); ValueError when the TP-UDL and the octets disagree or the DCS is not supported."""
    kind = dcs_alphabet(data.dcs)
    octets = (data.length * 7 + 7) // 8 if kind == Alphabet.GSM7 else data.length
    limit = GSM7_MAX if kind == Alphabet.GSM7 else USER_DATA_OCTETS
    if data.length > limit or len(data.octets) != octets:
        raise ValueError(f"TP-UDL {data.length} does not match {len(data.octets)} octets of {kind.value} user data")
    if kind == Alphabet.DATA8:
        return bytes(data.octets)
    if kind == Alphabet.GSM7:
        return unpack_gsm7(data.octets, data.length)
    if data.length % 2:
        raise ValueError("UCS-2 user data is an even number of octets")
    return data.octets.decode("utf-16-be", errors="replace")
