"""SMS text rules: alphabet choice, lengths and the one-SMS limit (TS 23.038 / TS 23.040), GSM 7-bit packing checked
against a published vector and against pycrate's independent codec."""

from __future__ import annotations

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st
from pycrate_mobile.TS23038 import decode_7b, encode_7b

from cellplane.protocols.sms import (
    GSM7_MAX,
    UCS2_MAX,
    Alphabet,
    alphabet,
    measure,
    pack_gsm7,
    septets,
    unpack_gsm7,
)

DEFAULT_ALPHABET = (
    "@£$¥èéùìòÇ\nØø\rÅåΔ_ΦΓΛΩΠΨΣΘΞÆæßÉ !\"#¤%&'()*+,-./0123456789:;<=>?¡ABCDEFGHIJKLMNOPQRSTUVWXYZÄÖÑÜ§"
    "¿abcdefghijklmnopqrstuvwxyzäöñüà"
)
EXTENSION = "\f^{}\\[~]|€"
gsm7_texts = st.text(alphabet=DEFAULT_ALPHABET + EXTENSION, max_size=200)


def test_the_limits_are_what_140_octets_of_user_data_carry() -> None:
    assert (GSM7_MAX, UCS2_MAX) == (160, 70)


def test_the_default_alphabet_has_127_characters_and_their_codes_follow_the_table() -> None:
    # GIVEN the table of TS 23.038 §6.2.1 (0x1B is the escape, not a character)
    # THEN its characters take the codes of their position
    assert len(DEFAULT_ALPHABET) == 127
    assert septets("@") == [0x00] and septets("A") == [0x41] and septets("à") == [0x7F] and septets("É") == [0x1F]
    assert septets("€") == [0x1B, 0x65] and septets("[") == [0x1B, 0x3C]


@pytest.mark.parametrize(
    ("text", "expected", "length"),
    [
        ("", Alphabet.GSM7, 0),
        ("checkin: firmware update", Alphabet.GSM7, 24),
        ("Grüße à Paris: 12€", Alphabet.GSM7, 19),  # ü, ß, à are default-alphabet characters; € takes two septets
        ("{x}", Alphabet.GSM7, 5),
        ("temp=21°C", Alphabet.UCS2, 9),  # ° is in neither table
        ("ça va", Alphabet.UCS2, 5),  # ç (lower case) is not in the default alphabet, only Ç is
        ("数据", Alphabet.UCS2, 2),
        ("ok 👍", Alphabet.UCS2, 5),  # outside the BMP: a surrogate pair, two code units
    ],
)
def test_alphabet_and_length(text: str, expected: Alphabet, length: int) -> None:
    size = measure(text)
    assert (alphabet(text), size.alphabet, size.length) == (expected, expected, length)


def test_one_sms_carries_160_gsm7_septets_or_70_ucs2_characters() -> None:
    assert measure("x" * 160).fits and not measure("x" * 161).fits
    assert measure("x" * 159 + "€").length == 161 and not measure("x" * 159 + "€").fits
    assert measure("é" * 160).fits  # é is a GSM 7-bit character: one septet
    assert measure("°" * 70).fits and not measure("°" * 71).fits
    assert (measure("x" * 161).limit, measure("°").limit) == (160, 70)


def test_packing_matches_the_published_hellohello_vector() -> None:
    # GIVEN "hellohello", the classic example of septet packing (TS 23.038 §6.1.2.1.1)
    # WHEN it is packed
    # THEN ten septets fill nine octets, least significant bits first
    assert pack_gsm7("hellohello").hex().upper() == "E8329BFD4697D9EC37"
    assert unpack_gsm7(bytes.fromhex("E8329BFD4697D9EC37"), 10) == "hellohello"


@settings(max_examples=300, deadline=None)
@given(gsm7_texts)
def test_packing_agrees_with_pycrate(text: str) -> None:
    packed, count = encode_7b(text)
    mine = pack_gsm7(text)
    assert measure(text).length == count
    if (-count * 7) % 8 == 7:
        # Seven spare bits: pycrate fills them with a CR (TS 23.038 §6.1.2.3.1, so that no "@" appears); the
        # SMS's TP-User-Data-Length says where the text ends, so we leave them zero.
        assert mine[:-1] == packed[:-1] and mine[-1] == packed[-1] & 0x01
    else:
        assert mine == packed
    assert unpack_gsm7(packed, count) == unpack_gsm7(mine, count) == text
    if not text.endswith(("@", "\r")):  # pycrate drops a trailing @ or CR as padding
        assert decode_7b(mine) == text


@given(st.text(max_size=100))
def test_a_text_is_gsm7_exactly_when_it_can_be_packed(text: str) -> None:
    if alphabet(text) == Alphabet.GSM7:
        assert unpack_gsm7(pack_gsm7(text), measure(text).length) == text
    else:
        with pytest.raises(ValueError):
            septets(text)
