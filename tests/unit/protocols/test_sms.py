"""SMS text rules: alphabet choice, lengths and the one-SMS limit (TS 23.038 / TS 23.040), GSM 7-bit packing checked
against a published vector and against pycrate's independent codec; the TP-DCS and TP-User-Data of text and 8-bit
data, round-tripped and read back by pycrate's SMS-DELIVER decoder."""

from __future__ import annotations

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st
from pycrate_mobile.TS23038 import decode_7b, encode_7b
from pycrate_mobile.TS23040_SMS import SMS_DELIVER

from cellplane.protocols.sms import (
    GSM7_MAX,
    UCS2_MAX,
    USER_DATA_OCTETS,
    Alphabet,
    UserData,
    alphabet,
    alphabet_of,
    data_coding,
    dcs_alphabet,
    decode_user_data,
    encode_user_data,
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


# --- TP-DCS and TP-User-Data: text and 8-bit data ------------------------------------------------------------

messages = st.one_of(
    gsm7_texts.filter(lambda text: measure(text).fits),
    st.text(max_size=UCS2_MAX // 2).filter(lambda text: measure(text).fits),
    st.binary(max_size=USER_DATA_OCTETS),
)


def deliver_pdu(data: UserData) -> bytes:
    """An SMS-DELIVER (TS 23.040 §9.2.2.1) from "000" carrying `data`: first octet, TP-OA, TP-PID, TP-DCS,
    TP-SCTS, TP-UDL, TP-UD."""
    return bytes([0x04, 0x03, 0x81, 0x00, 0x00, 0x00, data.dcs]) + bytes(7) + bytes([data.length]) + data.octets


def test_bytes_are_8bit_data_of_at_most_140_octets() -> None:
    # GIVEN binary content
    # THEN it is 8-bit data (TP-DCS 0x04), measured in octets, and one SMS carries 140 of them
    size = measure(bytes(140))
    assert (size.alphabet, size.length, size.limit, size.fits) == (Alphabet.DATA8, 140, 140, True)
    assert not measure(bytes(141)).fits and measure(bytes(141)).unit == "bytes of 8-bit data"
    assert (data_coding(b"\x00"), data_coding("hello"), data_coding("数据")) == (0x04, 0x00, 0x08)
    assert encode_user_data(bytes([0, 0xFF, 0x1B])) == UserData(0x04, 3, bytes([0, 0xFF, 0x1B]))
    with pytest.raises(ValueError, match="at most 140"):
        encode_user_data(bytes(141))


def test_text_keeps_its_alphabets_and_user_data_lengths() -> None:
    # GSM 7-bit: TP-UDL counts septets; UCS-2: octets
    assert encode_user_data("hellohello") == UserData(0x00, 10, bytes.fromhex("E8329BFD4697D9EC37"))
    assert encode_user_data("°C") == UserData(0x08, 4, "°C".encode("utf-16-be"))
    assert (alphabet_of("ok"), alphabet_of("°"), alphabet_of(b"ok")) == (Alphabet.GSM7, Alphabet.UCS2, Alphabet.DATA8)


@pytest.mark.parametrize(
    ("dcs", "expected"),
    [
        (0x00, Alphabet.GSM7),
        (0x04, Alphabet.DATA8),
        (0x08, Alphabet.UCS2),
        (0x15, Alphabet.DATA8),  # general coding with message class 1
        (0x46, Alphabet.DATA8),  # marked for automatic deletion
        (0xC8, Alphabet.GSM7),  # message waiting indication, discard
        (0xE0, Alphabet.UCS2),  # message waiting indication, store, UCS-2
        (0xF4, Alphabet.DATA8),  # data coding / message class group, 8-bit
        (0xF0, Alphabet.GSM7),
    ],
)
def test_a_received_dcs_names_its_alphabet(dcs: int, expected: Alphabet) -> None:
    assert dcs_alphabet(dcs) == expected


@pytest.mark.parametrize("dcs", [0x0C, 0x24, 0x80, 0xB4, 0x100, -1])
def test_compressed_reserved_and_out_of_range_codings_are_refused(dcs: int) -> None:
    with pytest.raises(ValueError):
        dcs_alphabet(dcs)


def test_user_data_whose_length_disagrees_with_its_octets_is_refused() -> None:
    for data in (UserData(0x04, 3, b"ab"), UserData(0x00, 10, bytes(8)), UserData(0x04, 141, bytes(141))):
        with pytest.raises(ValueError):
            decode_user_data(data)


@settings(max_examples=300, deadline=None)
@given(messages)
def test_user_data_round_trips_and_pycrate_reads_it_the_same(message: str | bytes) -> None:
    # GIVEN a message one SMS carries, as the TP-DCS, TP-UDL and TP-UD we send
    data = encode_user_data(message)
    # THEN it decodes back exactly (bytes stay bytes, text stays text)
    assert decode_user_data(data) == message and type(decode_user_data(data)) is type(message)
    # AND an independent decoder reading it inside an SMS-DELIVER finds the same content
    pdu = SMS_DELIVER()
    pdu.from_bytes(deliver_pdu(data))
    assert pdu["TP_UD"]["UDL"].get_val() == data.length
    theirs = pdu["TP_UD"]["UD"].decode()
    if isinstance(message, str) and alphabet(message) == Alphabet.GSM7 and message.endswith(("@", "\r")):
        assert message.startswith(theirs)  # pycrate drops a trailing @ or CR as padding
    else:
        assert theirs == message


# Every TP-DCS whose alphabet TS 23.038 states without ambiguity: the general and automatic-deletion groups with a
# character set that is not reserved, and the data coding / message class group with its reserved bit 3 clear.
UNAMBIGUOUS = [
    dcs
    for dcs in range(256)
    if (dcs >> 4 in (0, 1, 4, 5) and (dcs >> 2) & 0b11 != 3) or (dcs >> 4 == 15 and not dcs & 0x08)
]


@pytest.mark.parametrize("dcs", UNAMBIGUOUS)
def test_our_reading_of_a_dcs_agrees_with_pycrate_where_ts_23038_is_unambiguous(dcs: int) -> None:
    # Two octets read as two GSM 7-bit septets ("hi"), one UCS-2 character, or two bytes of 8-bit data.
    data = UserData(dcs, 2, pack_gsm7("hi"))
    pdu = SMS_DELIVER()
    pdu.from_bytes(deliver_pdu(data))
    assert pdu["TP_UD"]["UD"].decode() == decode_user_data(data)
