"""SQLAlchemy models, one aggregate a module; importing this package registers every table."""

from cellplane.store.models.accounts import Account, ApiKey
from cellplane.store.models.base import Base
from cellplane.store.models.billing import BillingPeriod
from cellplane.store.models.commands import IpCommand, SmsCommand, WirelessCommand
from cellplane.store.models.console import ConsoleSession
from cellplane.store.models.esim import EsimProfile, SettingsUpdate
from cellplane.store.models.fleets import Fleet, NetworkAccessProfile, NetworkAccessProfileNetwork
from cellplane.store.models.identity import AccessToken, ApiClient, AuditEvent, User
from cellplane.store.models.jobs import Job, SingletonLease, WebhookAttempt, WebhookDelivery
from cellplane.store.models.rate_plans import RatePlan
from cellplane.store.models.rating import PricePlan, ReportDownload, ThingStateChange
from cellplane.store.models.sessions import ConnectionEvent, DataSession, UsageBucket
from cellplane.store.models.sims import Sim
from cellplane.store.models.things import (
    IpPool,
    IpProfile,
    NatRule,
    ThingsGroup,
    ThingsNetwork,
    ThingsRoute,
    VpnTunnel,
)
from cellplane.store.models.things_bulk import BulkAction, BulkItem, ImeiChange, ThingTag

__all__ = [
    "AccessToken",
    "Account",
    "ApiClient",
    "ApiKey",
    "AuditEvent",
    "Base",
    "BillingPeriod",
    "BulkAction",
    "BulkItem",
    "ConnectionEvent",
    "ConsoleSession",
    "DataSession",
    "EsimProfile",
    "Fleet",
    "ImeiChange",
    "IpCommand",
    "IpPool",
    "IpProfile",
    "Job",
    "NatRule",
    "NetworkAccessProfile",
    "NetworkAccessProfileNetwork",
    "PricePlan",
    "RatePlan",
    "ReportDownload",
    "SettingsUpdate",
    "Sim",
    "SingletonLease",
    "SmsCommand",
    "ThingStateChange",
    "ThingTag",
    "ThingsGroup",
    "ThingsNetwork",
    "ThingsRoute",
    "UsageBucket",
    "User",
    "VpnTunnel",
    "WebhookAttempt",
    "WebhookDelivery",
    "WirelessCommand",
]
