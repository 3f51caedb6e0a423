"""The rules of SMS Commands: statuses, directions, error codes, and the ready -> active count.

From the official spec and the SMSCommand resource docs: one SMS of text (at most 160 characters of the
GSM 7-bit alphabet, binary mode not supported); commands to the SIM go `queued` -> `sent` (handed to the
network) -> `delivered` (the device has it), or `failed`; commands from the SIM are `received`. Seed 004:
five SMS Commands to or from a `ready` SIM make it `active`.
"""

from __future__ import annotations

STATUSES = ("queued", "sent", "delivered", "received", "failed")
DIRECTIONS = ("to_sim", "from_sim")
TO_SIM, FROM_SIM = DIRECTIONS
QUEUED, SENT, DELIVERED, RECEIVED, FAILED = STATUSES
PAYLOAD_TYPE = "text"  # the callbacks' PayloadType: "text mode by default. Binary mode is not supported."
ORIGINATOR = "000"  # the docs: "The SMS received by your device will always be from the number 000"

READY_ACTIVATION_SMS = 5  # seed 004: "five SMS Commands have been sent to or received from the SIM"

# The platform publishes no code for an SMS Command that could not be delivered (83400 is IP Commands'), so
# this one is cellplane's own (DESIGN.md: "a code range of our own for our extensions"); the message says why.
DELIVERY_ERROR = 89100
NOT_REACHABLE_MESSAGE = "The device was not attached to a cellular network when the SMS Command was dequeued"
EXPIRED_MESSAGE = "The device could not be reached before the SMS Command's validity period ended"
NO_SMSC_MESSAGE = "No SMS center serves this SIM here, so the SMS Command could not be sent"
