"""The seam where a real SMSC takes the place of the emulated radio leg, over SMPP 3.4. Not implemented: a design.

`SmsCenter` talks to devices through two in-process calls: `deliver(imsi, message)` for MT SMS (radio.py) and
`submit_from_device(imsi, message)` for MO SMS, a message being text or bytes (8-bit data). An operator with a
real SMSC (or an SMS aggregator) would give the center an `SmppLink` instead of the emulator: cellplane is then
an ESME bound as a transceiver (`bind_transceiver`, SMPP 3.4 §4.1.5), and the mapping is

    MT  deliver(imsi, message)       -> submit_sm: destination the SIM's MSISDN (or IMSI where the SMSC routes
                                        on it), source "000", data_coding 0 (GSM 7-bit, the SMSC's default
                                        alphabet), 8 (UCS-2) or 4 (8-bit data, for bytes) as
                                        protocols/sms.data_coding says, registered_delivery 1; the
                                        answer is PENDING with `later` settled by the delivery receipt
        submit_sm_resp error         -> ABSENT (e.g. ESME_RINVDSTADR) or a retry (ESME_RTHROTTLED, ESME_RMSGQFUL)
        deliver_sm with esm_class    -> the receipt (SMPP 3.4 Appendix B, "stat:DELIVRD", "UNDELIV", "EXPIRED"):
          0x04 (delivery receipt)       resolves `later` for the message_id submit_sm_resp gave
    MO  deliver_sm (a short message) -> submit_from_device(source address -> IMSI, short_message decoded by
                                        its data_coding: protocols/sms.decode_user_data); an RP-Cause
                                        refusal becomes a deliver_sm_resp with ESME_RX_P_APPN
                                        (permanent) or ESME_RX_T_APPN (temporary)
        enquire_link                 -> keepalive every 30 s; an unanswered one rebinds

What it needs beyond this file: a PDU codec (protocols/smpp.py, the SMPP 3.4 PDUs as pure functions with the
specification's examples as test vectors), the IMSI <-> MSISDN mapping (sims.msisdn), and windowing of
outstanding submit_sm by sequence_number. None of it is built: the emulator's SMS app is the only radio leg.
"""

from __future__ import annotations

from dataclasses import dataclass

from cellplane.protocols.sms import ShortMessage

from .radio import MtAttempt


@dataclass(frozen=True)
class SmppPeer:
    """Where and how to bind (SMPP 3.4 §4.1.5): the SMSC's address, system_id and password."""

    host: str
    port: int
    system_id: str
    password: str
    system_type: str = ""


class SmppLink:
    """A real SMSC as the SMS center's radio leg; shaped like the emulator's, so `SmsCenter` cannot tell."""

    def __init__(self, peer: SmppPeer) -> None:
        self.peer = peer

    async def start(self) -> None:
        raise NotImplementedError("SMPP is not implemented: cellplane's SMS center delivers to emulated devices only")

    async def stop(self) -> None:
        pass

    def deliver(self, imsi: str, message: ShortMessage) -> MtAttempt:
        raise NotImplementedError("SMPP is not implemented: see this module's docstring for the design")
